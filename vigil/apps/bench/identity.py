"""`vigil bench identity SET_DIR ... [--compare EMBEDDER ...]`: embedders side by side.

Each SET_DIR is an identity set (``<person>/*.jpg``, as `vigil devdata identity` builds). Every
picture goes through what the face stage does: made a 640x480 webcam JPEG (q60), decoded, the
configured face detector once (its largest face kept), then each embedder on the same faces.
Per set and embedder it reports FNMR at FMR 0.1% and 1% (the most lenient threshold meeting
each), with the counts of pairs behind them, and the embedder's milliseconds a face (one face
at a time, as a client's frame arrives, on ``--threads`` runtime threads); a DET plot with one
curve per set and embedder. Thresholds for a deployment are chosen here, on development
sets, never on ../shared/testdata.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import numpy.typing as npt

from processors.vision.base import FacePlugin, FramePlugin
from processors.vision.device import select_device
from processors.vision.imaging import Image
from processors.vision.registry import REGISTRY, load_plugin, uses_torch
from processors.vision.results import DetectedFace, FaceDetections
from vigil.apps.bench.accuracy.dataset import webcam_frames
from vigil.apps.bench.identity_metrics import (
    FMR_TARGETS,
    PairDistances,
    fnmr_at_fmr,
    pair_distances,
    plot_det,
)
from vigil.core.errors import VigilError
from vigil.core.settings import Settings, load_settings

log = logging.getLogger(__name__)

PICTURES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class FoundFace:
    """One picture's largest face, the frame it is in and whose it is."""

    person: str
    frame: Image
    face: DetectedFace


@dataclass(frozen=True)
class IdentityRow:
    """One embedder on one set."""

    set_name: str
    embedder: str
    pairs: PairDistances
    ms_per_face: float
    faces: int
    pictures: int


def load_detector(settings: Settings) -> FramePlugin[FaceDetections]:
    """The configured face detector, loaded."""
    device = select_device(settings, uses_torch("face_detector", settings))
    return cast(FramePlugin[FaceDetections], load_plugin("face_detector", settings, device))


def find_faces(settings: Settings, folder: Path,
               detector: FramePlugin[FaceDetections] | None = None
               ) -> tuple[list[FoundFace], int]:
    """The largest face of every picture of an identity set, and how many pictures it has."""
    people = sorted(p for p in folder.iterdir() if p.is_dir())
    pictures = [(person.name, path) for person in people for path in sorted(person.iterdir())
                if path.suffix.lower() in PICTURES]
    if not pictures:
        raise VigilError(f"{folder}: no <person>/*.jpg pictures (an identity set?)", exit_code=2)
    frames = webcam_frames([path for _, path in pictures], settings.models.max_image_pixels)
    detector = detector or load_detector(settings)
    found = []
    for (person, _), frame in zip(pictures, frames, strict=True):
        faces = detector.infer([frame.image])[0].faces
        if faces:
            found.append(FoundFace(person, frame.image, faces[0]))
    return found, len(pictures)


def embed_all(embedder: FacePlugin[np.ndarray], faces: Sequence[FoundFace]
              ) -> tuple[npt.NDArray[np.float32], float]:
    """Embeddings of every face (one at a time) and the mean milliseconds a face."""
    vectors = []
    start = time.perf_counter()
    for found in faces:
        vectors.append(embedder.infer_faces([found.frame], [[found.face]])[0][0])
    elapsed = time.perf_counter() - start
    return np.stack(vectors).astype(np.float32), 1000 * elapsed / max(len(faces), 1)


def run_identity_bench(settings: Settings, folders: Sequence[Path], embedders: Sequence[str]
                       ) -> list[IdentityRow]:
    """Every embedder over every set, on the same detected faces."""
    unknown = [name for name in embedders if name not in REGISTRY["face_embedder"]]
    if unknown:
        raise VigilError(f"no face embedder named {', '.join(unknown)}; known: "
                         f"{', '.join(sorted(REGISTRY['face_embedder']))}", exit_code=2)
    detector = load_detector(settings)
    sets = {folder: find_faces(settings, folder, detector) for folder in folders}
    rows = []
    for name in embedders:
        device = select_device(settings, uses_torch("face_embedder", settings, name))
        embedder = cast(FacePlugin[np.ndarray],
                        load_plugin("face_embedder", settings, device, name))
        for folder, (faces, pictures) in sets.items():
            vectors, ms = embed_all(embedder, faces)
            pairs = pair_distances(vectors, [f.person for f in faces])
            rows.append(IdentityRow(folder.name, name, pairs, ms, len(faces), pictures))
            log.info("identity set=%s embedder=%s faces=%d ms=%.1f", folder.name, name,
                     len(faces), ms)
    return rows


def pooled(rows: Sequence[IdentityRow]) -> list[IdentityRow]:
    """Per embedder, every set's pairs together: one threshold for everyone, as a deployment
    without per-person thresholds has (pairs across sets are not added: they are easy)."""
    out = []
    for name in dict.fromkeys(r.embedder for r in rows):
        mine = [r for r in rows if r.embedder == name]
        faces = sum(r.faces for r in mine)
        pairs = PairDistances(np.concatenate([r.pairs.genuine for r in mine]),
                              np.concatenate([r.pairs.impostor for r in mine]))
        ms = sum(r.ms_per_face * r.faces for r in mine) / max(faces, 1)
        out.append(IdentityRow("all sets", name, pairs, ms, faces,
                               sum(r.pictures for r in mine)))
    return out


def format_rows(rows: Sequence[IdentityRow]) -> str:
    """The side-by-side table: one line per set and embedder."""
    lines = ["| set | embedder | faces/pictures | genuine / impostor pairs | "
             + " | ".join(f"FNMR @ FMR {100 * t:g}%" for t in FMR_TARGETS)
             + " | ms a face |", "|---|---|---|---|" + "---|" * len(FMR_TARGETS) + "---|"]
    for row in rows:
        cells = []
        for target in FMR_TARGETS:
            point = fnmr_at_fmr(row.pairs, target)
            cells.append(f"{100 * point.fnmr:.1f}% ({point.false_non_matches}/"
                         f"{point.genuine_pairs}; {point.false_matches} FM; "
                         f"t {point.threshold:.3f})")
        lines.append(f"| {row.set_name} | {row.embedder} | {row.faces}/{row.pictures} | "
                     f"{len(row.pairs.genuine)} / {len(row.pairs.impostor)} | "
                     + " | ".join(cells) + f" | {row.ms_per_face:.1f} |")
    return "\n".join(lines)


def identity_command(args: argparse.Namespace) -> int:
    """Run the bench; print the table and where the DET plot went."""
    settings = load_settings(getattr(args, "config", None), inference_threads=args.threads)
    names = list(dict.fromkeys([settings.models.face_embedder, *args.compare]))
    rows = run_identity_bench(settings, args.folders, names)
    print(
        f"vigil bench identity: detector {settings.models.face_detector}, {args.threads} threads, "
        "pictures as 640x480 webcam JPEGs (q60)"
    )
    per_set = {f"{r.set_name} {r.embedder}": r.pairs for r in rows}
    if len(args.folders) > 1:
        together = pooled(rows)
        rows = [*rows, *together]
        sets_png = args.det_png.with_name(f"{args.det_png.stem}-sets{args.det_png.suffix}")
        print(f"DET plot per set: {plot_det(per_set, sets_png, 'identity, per set')}")
        set_names = ", ".join(folder.name for folder in args.folders)
        per_set = {r.embedder: r.pairs for r in together}
        title = f"identity, one threshold for all sets ({set_names})"
    else:
        title = f"identity: {args.folders[0].name}"
    print(format_rows(rows))
    print(f"DET plot: {plot_det(per_set, args.det_png, title)}")
    return 0
