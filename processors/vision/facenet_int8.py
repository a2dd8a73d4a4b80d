"""FaceNet quantized to int8 for OpenVINO: calibrated once on face photos, then cached.

NNCF's post-training quantization (``nncf.quantize``: the range of every layer's activations
over calibration faces, then bias correction) turns the float IR that
:func:`processors.vision.openvino_ir.converted_ir` converted into an int8 IR. On CPUs with
int8 instructions (AVX512-VNNI, AMX) a face then costs a fraction of the float model's CPU
(docs/benchmarks/models.md); on the development identity sets its error rates are the float
model's (docs/identity.md). Embeddings stay FaceNet's: the same weights file, so the same
plug-in version digest, and templates enrolled with either are compared with the other.

Calibration faces: every face the configured detector finds in the photos of
``int8_calibration_faces`` (vigil/core/plugins.py ``calibration_photos``), cropped as the
embedder crops it, and its mirror image. The cache folder is named by the float IR's folder,
the NNCF version and a digest of the photos, so other photos or another NNCF mean another
quantization, never a stale one. Quantizing runs in a child process (``python -m
processors.vision.facenet_int8 FLOAT.xml CROPS.npy OUT.xml``: NNCF imports scipy, scikit-learn
and networkx, which the serving process has no use for), about 15 s once.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt

from processors.vision.embedder import facenet_crop, preprocess
from processors.vision.imaging import BadImageError, read_image
from processors.vision.openvino_ir import IR_FILE, built_once
from vigil.core.errors import VigilError
from vigil.core.plugins import CALIBRATION_SUFFIXES, calibration_photos
from vigil.core.settings import Settings
from vigil.core.weights import recording_weights

log = logging.getLogger(__name__)

MIN_FACES = 8  # fewer faces than this give activation ranges too narrow to trust


class CalibrationError(VigilError, ValueError):
    """The calibration photos cannot calibrate the int8 model."""


def photos_digest(photos: list[Path]) -> str:
    """The first 16 hex digits of the sha256 of the photos' names and bytes, in order."""
    digest = hashlib.sha256()
    for photo in photos:
        digest.update(photo.name.encode() + b"\0" + photo.read_bytes())
    return digest.hexdigest()[:16]


def calibration_crops(settings: Settings, folder: Path) -> npt.NDArray[np.uint8]:
    """Every face the configured detector finds in the folder's photos, as the embedder
    crops it, and its mirror image (N x 160 x 160 x 3 RGB)."""
    from processors.vision.device import select_device
    from processors.vision.registry import create_plugin

    # Its own recording: the detector's weights are not part of the embedder's version.
    with recording_weights():
        detector = create_plugin("face_detector", settings, select_device(settings, False))
        detector.load()
    crops = []
    for photo in calibration_photos(folder):
        try:
            picture = read_image(str(photo))
        except BadImageError as exc:
            log.warning("calibration photo %s skipped: %s", photo, exc)
            continue
        for face in detector.infer([picture])[0].faces:  # type: ignore[attr-defined]
            crop = facenet_crop(picture, face.box)
            crops += [crop, np.ascontiguousarray(crop[:, ::-1])]
    if len(crops) < 2 * MIN_FACES:
        raise CalibrationError(
            f"int8_calibration_faces {folder}: {len(crops) // 2} faces found in its "
            f"{'/'.join(CALIBRATION_SUFFIXES)} photos, at least {MIN_FACES} needed")
    return np.stack(crops)


def quantized_ir(settings: Settings, float_xml: Path, folder: Path) -> Path:
    """The cached int8 IR of FaceNet's float IR, calibrated on the faces in ``folder``;
    quantized first, in a child process, when it is not cached yet."""
    photos = calibration_photos(folder)
    key = f"int8-nncf{importlib.metadata.version('nncf')}-{photos_digest(photos)}"
    target = float_xml.parent.with_name(f"{float_xml.parent.name}-{key}")
    if (target / IR_FILE).is_file():
        return target / IR_FILE
    crops = calibration_crops(settings, folder)
    with tempfile.TemporaryDirectory(prefix=".calibration-", dir=float_xml.parent.parent) as tmp:
        crops_file = Path(tmp) / "crops.npy"
        np.save(crops_file, crops)
        return built_once(
            target,
            lambda ir: ["processors.vision.facenet_int8", str(float_xml), str(crops_file),
                        str(ir)],
            f"quantizing FaceNet to int8 on {len(crops) // 2} faces of {folder}",
            "choose face_embedder=facenet_openvino to run the float model")


def quantize(float_xml: Path, crops_file: Path, out: Path) -> None:
    """Write ``out`` (and its .bin): the float IR quantized by NNCF on the crops."""
    import nncf
    import openvino as ov

    crops = np.load(crops_file)
    dataset = nncf.Dataset(list(crops), lambda crop: preprocess(crop[None]))
    model = ov.Core().read_model(str(float_xml))
    quantized = nncf.quantize(model, dataset, subset_size=len(crops),
                              fast_bias_correction=True)
    ov.save_model(quantized, str(out), compress_to_fp16=False)


def main(argv: list[str]) -> int:
    """Entry point: FLOAT.xml CROPS.npy OUT.xml."""
    if len(argv) != 3:
        print("usage: facenet_int8 FLOAT.xml CROPS.npy OUT.xml", file=sys.stderr)
        return 2
    quantize(Path(argv[0]), Path(argv[1]), Path(argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
