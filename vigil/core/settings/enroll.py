"""Enrollment: what a photo must be to enroll a face."""

from __future__ import annotations

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
