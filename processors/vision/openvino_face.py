"""FaceNet, MiniFASNet and CelebA-Spoof run by OpenVINO: the same networks, crops and scores.

Each class is another plug-in with another runtime: the same weights (the torch ones
converted once, see :mod:`processors.vision.openvino_ir`; the CelebA-Spoof ONNX file read as
it is), the same crops and preprocessing, the same score; only ``load`` and the forward pass
differ. On the 2-core development machine the networks run
several times faster than in torch (README, Benchmarks), and a face process whose plug-ins
are all of this kind (or ONNX Runtime, or OpenCV) never imports torch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from processors.vision.antispoof import CelebaSpoofLiveness
from processors.vision.embedder import FaceNetEmbedder, preprocess
from processors.vision.liveness import (
    REAL_CLASS,
    FaceInFrame,
    MiniFasNetLiveness,
    liveness_crop,
    parse_model_name,
)
from processors.vision.openvino_ir import CompiledIR, converted_ir
from vigil.core.embeddings import EMBEDDING_DIM
from vigil.core.weights import require_weight

log = logging.getLogger(__name__)


def softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Row-wise softmax of N x K logits."""
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    result: npt.NDArray[np.float32] = exp / exp.sum(axis=1, keepdims=True)
    return result


class OpenVinoFaceNetEmbedder(FaceNetEmbedder):
    """FaceNet (CASIA-WebFace) embeddings computed by OpenVINO on the CPU."""

    name = "facenet_openvino"

    def load(self) -> None:
        """Compile the cached IR of the verified weights (converting it once if needed)."""
        xml = converted_ir(self.settings, "facenet", self.settings.models.embedder_weights)
        self._network = CompiledIR(self.settings, xml)
        self.loaded = True
        log.info("loaded embedder weights=%s runtime=openvino ir=%s",
                 self.settings.models.embedder_weights, xml.parent.name)

    def embed_crops(self, crops: Sequence[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
        """Embeddings (N x 512, unit length) of 160x160 RGB uint8 crops, one inference."""
        if not crops:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        embeddings = self._network.run(preprocess(np.stack(crops)))
        norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
        result: npt.NDArray[np.float32] = embeddings / np.maximum(norms, 1e-12)
        return result


class OpenVinoFaceNetInt8Embedder(OpenVinoFaceNetEmbedder):
    """The same FaceNet quantized to int8 (processors/vision/facenet_int8.py)."""

    name = "facenet_int8"

    def load(self) -> None:
        """Compile the cached int8 IR (converting and quantizing it once if needed)."""
        from processors.vision.facenet_int8 import CalibrationError, quantized_ir

        folder = self.settings.models.int8_calibration_faces
        if folder is None:
            raise CalibrationError(
                "face_embedder facenet_int8 needs int8_calibration_faces: a folder of face "
                "photos to calibrate on (or choose facenet_openvino)")
        float_xml = converted_ir(self.settings, "facenet", self.settings.models.embedder_weights)
        xml = quantized_ir(self.settings, float_xml, folder)
        # f32 around the int8 layers, as the int8 phone detector (faster than bf16 there).
        self._network = CompiledIR(self.settings, xml, "f32")
        self.loaded = True
        log.info("loaded embedder weights=%s runtime=openvino int8 ir=%s",
                 self.settings.models.embedder_weights, xml.parent.name)


class OpenVinoMiniFasNetLiveness(MiniFasNetLiveness):
    """MiniFASNetV2 + V1SE real-face score, computed by OpenVINO on the CPU."""

    name = "minifasnet_openvino"

    def load(self) -> None:
        """Compile the cached IR of each configured MiniFASNet (converting it once if needed)."""
        self._networks: list[tuple[float, CompiledIR]] = []
        precision = self.settings.models.liveness_precision
        for file_name in self.settings.models.liveness_weights:
            xml = converted_ir(self.settings, "minifasnet", file_name)
            scale = parse_model_name(file_name).scale
            self._networks.append((scale, CompiledIR(self.settings, xml, precision)))
            log.info("loaded liveness weights=%s scale=%.1f runtime=openvino", file_name, scale)
        self.loaded = True

    def score_faces(self, faces: Sequence[FaceInFrame]) -> npt.NDArray[np.float32]:
        """Averaged real-class probability for each face."""
        if not faces:
            return np.zeros(0, dtype=np.float32)
        total = np.zeros(len(faces), dtype=np.float32)
        for scale, network in self._networks:
            patches = np.stack([liveness_crop(face, scale) for face in faces])
            # Float 0-255, not divided by 255: upstream's ToTensor keeps the raw range.
            batch = patches.transpose(0, 3, 1, 2).astype(np.float32)
            total += softmax(network.run(batch))[:, REAL_CLASS]
        result: npt.NDArray[np.float32] = total / np.float32(len(self._networks))
        return result


class OpenVinoCelebaSpoofLiveness(CelebaSpoofLiveness):
    """CelebA-Spoof real-face score, its ONNX file run by OpenVINO on the CPU."""

    name = "celebaspoof_openvino"

    def load(self) -> None:
        """Compile the verified ONNX file (OpenVINO reads ONNX itself; nothing is converted)."""
        path = require_weight(self.settings, self.weights_file())
        self._network = CompiledIR(self.settings, path, self.settings.models.liveness_precision)
        self.loaded = True
        log.info("loaded liveness weights=%s runtime=openvino", path.name)

    def _logits(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return self._network.run(batch)
