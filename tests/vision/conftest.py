"""Fixtures of the vision tests: the shared weights mirror and test images, models loaded once.

The shared folder is ``../shared`` beside the repository, or the parent of
``VIGIL_WEIGHTS_MIRROR``. Tests that need it skip, saying why, only when it is absent.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest

from processors.vision.base import FramePlugin
from processors.vision.chain import FaceChain
from processors.vision.imaging import Image, decode_frame, read_image, webcam_jpeg
from processors.vision.registry import load_plugin
from processors.vision.results import PhoneDetections
from tests.conftest import model_cache
from vigil.core.settings import Settings, load_settings
from vigil.core.weights import fetch_weights

_env_mirror = os.environ.get("VIGIL_WEIGHTS_MIRROR")
MIRROR = Path(_env_mirror) if _env_mirror else (
    Path(__file__).resolve().parents[2].parent / "shared" / "weights")
TESTDATA = MIRROR.parent / "testdata"
FACES = TESTDATA / "faces"
SPOOF = TESTDATA / "spoof"
OBJECTS = TESTDATA / "objects"

needs_mirror = pytest.mark.skipif(not MIRROR.is_dir(),
                                  reason=f"weights mirror {MIRROR} is absent")
needs_testdata = pytest.mark.skipif(not TESTDATA.is_dir(),
                                    reason=f"test images folder {TESTDATA} is absent")


def as_original(path: Path) -> Image:
    """The image as stored."""
    return read_image(str(path))


def as_webcam(path: Path) -> Image:
    """What a webcam client sends: letterboxed to 640x480, JPEG quality 60, decoded."""
    return decode_frame(webcam_jpeg(read_image(str(path))))


VARIANTS: dict[str, Callable[[Path], Image]] = {"original": as_original, "webcam": as_webcam}


@pytest.fixture(scope="session")
def vision_settings(tmp_path_factory: pytest.TempPathFactory, weights_dir: Path) -> Settings:
    """Settings with a private state folder and the weights fetched from the mirror."""
    if not MIRROR.is_dir():
        pytest.skip(f"weights mirror {MIRROR} is absent")
    settings = load_settings(state_dir=tmp_path_factory.mktemp("vision-state"),
                             weights_dir=weights_dir, weights_mirror=MIRROR, device="cpu",
                             model_cache_dir=model_cache(weights_dir))
    fetch_weights(settings, progress=False)
    return settings


@pytest.fixture(scope="session")
def chain(vision_settings: Settings) -> FaceChain:
    """The face chain, loaded and warmed up once per session."""
    return FaceChain.load(vision_settings)


@pytest.fixture(scope="session")
def phone(vision_settings: Settings, chain: FaceChain) -> FramePlugin[PhoneDetections]:
    """The configured phone detector, loaded and warmed up once per session (on the chain's
    device)."""
    return cast(FramePlugin[PhoneDetections],
                load_plugin("phone_detector", vision_settings, chain.device))
