"""`vigil bench accuracy --make-devset OUT`: the labelled development set, built from
../shared/testdata plus composites made here (vigil/apps/bench/accuracy/composites.py).

Layout (the labels are the folders; a picture may sit in several, e.g. a live face with a
phone beside it is both ``bona_fide`` and ``phone``)::

    bona_fide/   live faces: the portraits, spoof/image_T1, the COCO woman holding a phone,
                 and every portrait with a phone pasted beside the face
    attack/      spoof/image_F1 (print) and image_F2 (screen), and per portrait a printed-photo
                 simulation and a replay on a phone's "screen"
    phone/       the two COCO phone photos and the phone-beside-face composites
    no_phone/    the portraits, spoof/image_T1 and the three object photos without a phone
    identities/<name>/  the portraits by person, for verification pairs

Each composite is seeded by its source's file name, so a rebuild gives the same files. Faces
are located for composing with the YuNet plug-in (only to place things; never a label).
"""

from __future__ import annotations

import logging
import shutil
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np

from processors.vision.base import FramePlugin
from processors.vision.device import DeviceChoice
from processors.vision.imaging import Image, encode_jpeg, read_image
from processors.vision.registry import load_plugin
from processors.vision.results import BoxXYXY, FaceDetections
from vigil.apps.bench.accuracy import composites
from vigil.apps.bench.accuracy.dataset import LabelledSetError
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

FOLDERS = ("bona_fide", "attack", "phone", "no_phone", "identities")
PHONE_SOURCE = "objects/coco_val2017_000000001296_face_phone.jpg"
BACKGROUNDS = ("objects/tflite_examples_table.jpg", "objects/bus.jpg",
               "objects/coco_train2017_000000001655_phone.jpg")
COPIES: dict[str, tuple[str, ...]] = {
    "spoof/image_T1.jpg": ("bona_fide", "no_phone"),
    "spoof/image_F1.jpg": ("attack",),
    "spoof/image_F2.jpg": ("attack",),
    PHONE_SOURCE: ("bona_fide", "phone"),
    "objects/coco_train2017_000000001655_phone.jpg": ("phone",),
    "objects/tflite_examples_table.jpg": ("no_phone",),
    "objects/bus.jpg": ("no_phone",),
    "objects/zidane.jpg": ("no_phone",),
}
COMPOSITE_QUALITY = 95
COMPOSITE_FOLDERS: dict[str, tuple[str, ...]] = {
    "replay": ("attack",), "print": ("attack",), "beside": ("bona_fide", "phone")}


@dataclass
class DevSetReport:
    """What the builder wrote: files per folder, and the portraits it could not compose."""

    out: Path
    counts: Counter[str] = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)


def identity_of(path: Path) -> str:
    """``obama_2.jpg`` -> ``obama``; ``paul_rudd.jpg`` -> ``paul_rudd``."""
    head, _, tail = path.stem.rpartition("_")
    return head if tail.isdigit() else path.stem


def seeded(name: str) -> np.random.Generator:
    """A generator seeded by a file name, so each composite is the same on every build."""
    return np.random.default_rng(zlib.crc32(name.encode()))


def make_devset(settings: Settings, testdata: Path, out: Path,
                device: DeviceChoice | None = None) -> DevSetReport:
    """Build the development set from ``testdata`` into ``out`` (which must not exist)."""
    if out.exists():
        raise LabelledSetError(f"{out} exists; give a new folder for the development set")
    missing = [p for p in (*COPIES, *BACKGROUNDS, "faces") if not (testdata / p).exists()]
    if missing:
        raise LabelledSetError(f"test images missing under {testdata}: {', '.join(missing)}")
    report = DevSetReport(out)
    for folder in FOLDERS:
        (out / folder).mkdir(parents=True)
    for relative, folders in COPIES.items():
        for folder in folders:
            _copy(testdata / relative, out / folder / _flat(relative), report, folder)
    device = device or DeviceChoice("cpu", "cpu", False, "development set builder")
    finder = cast(FramePlugin[FaceDetections], load_plugin("face_detector", settings, device,
                                                           "yunet"))
    for portrait in sorted((testdata / "faces").iterdir()):
        _add_portrait(portrait, out, report, portrait_composites(testdata, portrait, finder))
    return report


def _flat(relative: str) -> str:
    return relative.replace("/", "_")


def _copy(source: Path, target: Path, report: DevSetReport, folder: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    report.counts[folder] += 1


def _write(image: Image, target: Path, report: DevSetReport, folders: tuple[str, ...]) -> None:
    data = encode_jpeg(image, COMPOSITE_QUALITY)
    for folder in folders:
        (report.out / folder / target).write_bytes(data)
        report.counts[folder] += 1


def _add_portrait(portrait: Path, out: Path, report: DevSetReport,
                  made: dict[str, Image] | None) -> None:
    """The portrait as is (bona fide, no phone, its identity) and its three composites."""
    name = f"faces_{portrait.name}"
    for folder in ("bona_fide", "no_phone"):
        _copy(portrait, out / folder / name, report, folder)
    _copy(portrait, out / "identities" / identity_of(portrait) / portrait.name, report,
          "identities")
    if made is None:
        log.warning("devset: no face found in %s, so no composites of it", portrait)
        report.skipped.append(portrait.name)
        return
    for kind, image in made.items():
        _write(image, Path(f"{kind}_{portrait.stem}.jpg"), report, COMPOSITE_FOLDERS[kind])


def portrait_composites(testdata: Path, portrait: Path, finder: FramePlugin[FaceDetections]
                        ) -> dict[str, Image] | None:
    """The ``replay``, ``print`` and ``beside`` composites of ``testdata/faces/portrait`` (None:
    no face found), each seeded by its file name as the development set names it."""
    phone = composites.cut_phone(read_image(str(testdata / PHONE_SOURCE)))
    index = sorted((testdata / "faces").iterdir()).index(portrait)
    background = read_image(str(testdata / BACKGROUNDS[index % len(BACKGROUNDS)]))
    photo = read_image(str(portrait))
    found = finder.infer([photo])[0].faces
    if not found:
        return None
    face: BoxXYXY = found[0].box
    makers: dict[str, Callable[[np.random.Generator], Image]] = {
        "replay": lambda rng: composites.face_in_phone(photo, face, phone, background, rng),
        "print": lambda rng: composites.printed_photo(photo, face, background, rng),
        "beside": lambda rng: composites.phone_beside_face(photo, face, phone, rng),
    }
    return {kind: make(seeded(f"{kind}_{portrait.stem}.jpg")) for kind, make in makers.items()}
