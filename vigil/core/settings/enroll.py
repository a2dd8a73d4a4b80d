"""Enrollment: what a photo must be to enroll a face."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from vigil.core.settings.base import Area


class EnrollSettings(Area):
    """The quality an enrollment photo must have."""

    min_face_size: int = Field(
        80, ge=10, le=2000, validation_alias="enroll_min_face_size",
        description="Smallest face (shorter side of its box, in the "
        "photo's pixels) accepted for enrollment. The portraits of ../shared/testdata have "
        "faces of 117 px and more."
    )
    max_yaw: float = Field(
        0.4, gt=0.0, le=2.0, validation_alias="enroll_max_yaw",
        description="How far the nose may sit from the middle of the "
        "eyes, in eye distances, in an enrollment photo (0 faces the camera). Measured: the "
        "testdata portraits 0.00-0.31, a three-quarter view (zidane.jpg, left face) 0.47-0.57."
    )
    min_sharpness: float = Field(
        25.0, ge=0.0, le=100_000.0, validation_alias="enroll_min_sharpness",
        description="Smallest variance of the Laplacian of the "
        "face (grey, resized to 160x160) accepted for enrollment. Measured: the testdata "
        "portraits 55-2062, the same blurred (Gaussian sigma = face side / 40) 4-11."
    )
    identity_target_fmr: float = Field(
        0.001, gt=0.0, lt=1.0, description="At enrollment, each client's own verify threshold "
        "is set where at most this share of an impostor cohort (the other enrolled clients, "
        "plus identity_cohort_file) would match it (control/users/thresholds.py)."
    )
    identity_cohort_file: Path | None = Field(
        None, description="Optional .npy of public faces' embeddings (N x dim, the configured "
        "embedder) added to the impostor cohort at enrollment; built outside git by `vigil "
        "devdata cohort`."
    )
    identity_threshold_floor: float = Field(
        0.825, gt=0.0, le=1.0, description="A client's own threshold never falls under this "
        "share of verify_threshold (nor under the distance between its own enrollment "
        "photos), so an enrolled look-alike cannot lock the owner out. 0.825 keeps FaceNet's "
        "floor where own thresholds were measured (0.75 of 1.10) now that its global threshold "
        "is 1.00 (docs/identity.md)."
    )
