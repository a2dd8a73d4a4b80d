"""Enrollment: face embeddings from photos, checked, then stored encrypted.

Each photo must show exactly one face that is large enough (``enroll_min_face_size``), facing
the camera (the nose within ``enroll_max_yaw`` eye distances of the eyes' middle), sharp
(variance of the Laplacian at least ``enroll_min_sharpness``) and live (the configured
liveness model's score at least ``liveness_threshold``). A refused photo is reported with its
path and the reason, with the measured value and the limit; nothing is stored unless at least
one photo is accepted. Every accepted photo's embedding is kept with its quality (face size,
sharpness, yaw, liveness), and the face processor matches a frame against the closest of them.
The client's own verify threshold is chosen against an impostor cohort (control/users/thresholds.py)
and kept in the same encrypted template. Enrolling again replaces the whole template.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from control.clients import ClientControl
from control.users.cohort import enrolled_cohort
from control.users.thresholds import ThresholdChoice, choose_threshold, load_cohort_file
from processors.vision.quality import face_side, sharpness, yaw_ratio
from schemas.events import ControlKind
from vigil.core.settings import Settings
from vigil.core.template import Template

log = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]  # height x width x 3, BGR


class AnalyzedFaceLike(Protocol):
    """What enrollment reads from one face found by the chain."""

    @property
    def box(self) -> tuple[float, float, float, float]: ...

    @property
    def landmarks(self) -> Sequence[tuple[float, float]]: ...

    @property
    def embedding(self) -> npt.NDArray[np.float32]: ...

    @property
    def liveness(self) -> float: ...


class FrameFacesLike(Protocol):
    @property
    def faces(self) -> Sequence[AnalyzedFaceLike]: ...


class FaceAnalyzer(Protocol):
    """The part of processors.vision.chain.FaceChain that judging photos needs."""

    def run(self, frames: Sequence[Image]) -> Sequence[FrameFacesLike]: ...


class EnrollingChain(FaceAnalyzer, Protocol):
    """A chain that also names its plug-ins: the embedder's version goes in the template."""

    @property
    def versions(self) -> Mapping[str, str]: ...  # role -> plug-in@digest


ImageReader = Callable[[str], Image]


@dataclass
class EnrollmentReport:
    """Which photos were accepted and why the others were refused."""

    accepted: list[Path] = field(default_factory=list)
    refused: list[tuple[Path, str]] = field(default_factory=list)
    embeddings: list[npt.NDArray[np.float32]] = field(default_factory=list)
    qualities: list[dict[str, float]] = field(default_factory=list)
    threshold: ThresholdChoice | None = None


@dataclass(frozen=True)
class QualityLimits:
    """What an enrollment photo's face must reach (from the settings of the same names)."""

    min_face_size: float
    max_yaw: float
    min_sharpness: float
    liveness_threshold: float

    @classmethod
    def from_settings(cls, settings: Settings) -> QualityLimits:
        return cls(settings.enroll.min_face_size, settings.enroll.max_yaw,
                   settings.enroll.min_sharpness, settings.models.liveness_threshold)


def check_faces(found: FrameFacesLike, picture: Image, limits: QualityLimits) -> str | None:
    """Why a photo cannot be enrolled, or None when its one face is usable."""
    if not found.faces:
        return "no face found"
    if len(found.faces) > 1:
        return f"{len(found.faces)} faces found; the photo must show exactly one"
    face = found.faces[0]
    side = face_side(face.box)
    if side < limits.min_face_size:
        return (f"the face is too small ({side:.0f} px < {limits.min_face_size:.0f} px): "
                "use a photo taken closer or at a higher resolution")
    yaw = yaw_ratio(face.landmarks)
    if abs(yaw) > limits.max_yaw:
        return (f"the face is turned away (nose {abs(yaw):.2f} eye distances from the eyes' "
                f"middle > {limits.max_yaw:.2f}): use a photo facing the camera")
    sharp = sharpness(picture, face.box)
    if sharp < limits.min_sharpness:
        return (f"the face is too blurred (sharpness {sharp:.0f} < {limits.min_sharpness:.0f}, "
                "variance of the Laplacian): use a sharper photo")
    if face.liveness < limits.liveness_threshold:
        return (f"the face is not live (liveness {face.liveness:.2f} < threshold "
                f"{limits.liveness_threshold:.2f})")
    return None


def face_quality(face: AnalyzedFaceLike, picture: Image) -> dict[str, float]:
    """What enrollment measured of an accepted face, kept with its embedding."""
    return {"face_px": round(face_side(face.box), 1),
            "sharpness": round(sharpness(picture, face.box), 1),
            "yaw": round(yaw_ratio(face.landmarks), 3), "liveness": round(face.liveness, 3)}


def own_threshold(settings: Settings, control: ClientControl, client_id: str,
                  own: npt.NDArray[np.float32]) -> ThresholdChoice:
    """The client's threshold against the other enrolled clients and the cohort file."""
    dim = own.shape[1]
    cohort = np.concatenate([enrolled_cohort(control.repo, client_id, dim),
                             load_cohort_file(settings.enroll.identity_cohort_file, dim)])
    return threshold_against(settings, own, cohort)


def threshold_against(settings: Settings, own: npt.NDArray[np.float32],
                      cohort: npt.NDArray[np.float32]) -> ThresholdChoice:
    """The threshold of ``own`` embeddings against a cohort, with the settings' target FMR,
    ceiling (the global threshold) and floor."""
    return choose_threshold(
        own,
        cohort,
        settings.enroll.identity_target_fmr,
        settings.models.verify,
        settings.enroll.identity_threshold_floor * settings.models.verify,
    )


def analyze_photos(chain: FaceAnalyzer, read: ImageReader, paths: Sequence[Path],
                   limits: QualityLimits) -> EnrollmentReport:
    """Run the face chain on every readable photo and sort them into accepted and refused."""
    report = EnrollmentReport()
    images: list[Image] = []
    readable: list[Path] = []
    for path in paths:
        try:
            images.append(read(str(path)))
            readable.append(path)
        except (OSError, ValueError) as exc:  # BadImageError is a ValueError
            report.refused.append((path, f"cannot read the image: {exc}"))
    results = chain.run(images) if images else []
    for path, picture, found in zip(readable, images, results, strict=True):
        reason = check_faces(found, picture, limits)
        if reason is None:
            embedding = np.asarray(found.faces[0].embedding, dtype=np.float32).reshape(-1)
            report.accepted.append(path)
            report.embeddings.append(embedding / np.linalg.norm(embedding))
            report.qualities.append(face_quality(found.faces[0], picture))
        else:
            report.refused.append((path, reason))
    return report


def enroll(settings: Settings, control: ClientControl, client_id: str, paths: Sequence[Path],
           name: str | None = None, chain: EnrollingChain | None = None,
           read: ImageReader | None = None) -> EnrollmentReport:
    """Enroll ``client_id`` from photos; stores and announces only if one was accepted."""
    if chain is None or read is None:
        from processors.vision.chain import FaceChain
        from processors.vision.imaging import read_image

        chain = chain or FaceChain.load(settings)
        read = read or (lambda p: read_image(p, max_pixels=settings.models.max_image_pixels))
    report = analyze_photos(chain, read, paths, QualityLimits.from_settings(settings))
    for path, reason in report.refused:
        log.warning("photo refused client_id=%s image=%s reason=%s", client_id, path, reason)
    if not report.accepted:
        return report
    own = np.stack(report.embeddings)
    report.threshold = own_threshold(settings, control, client_id, own)
    template = Template(own, report.threshold.threshold, report.threshold.basis,
                        tuple(report.qualities), chain.versions.get("face_embedder", ""))
    with control.change(client_id, ControlKind.ENROLLED, f"{len(report.accepted)} photo(s)"):
        control.repo.ensure_client(client_id, name)
        control.repo.set_embeddings(client_id, own, template)
    log.info("enrolled client_id=%s photos=%d threshold=%.3f basis=%s", client_id,
             len(report.accepted), report.threshold.threshold, report.threshold.basis)
    return report
