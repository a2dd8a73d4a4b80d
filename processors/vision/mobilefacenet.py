"""Face embedder plug-in: a 128-d MobileFaceNet (ArcFace family) as ONNX, on aligned faces.

The file (3.97 MB, exported from PyTorch) is found in several public repositories; its
upstream training is not stated (see weights/manifest.toml). Input: the face aligned to the
ArcFace 5-point template at 112x112, RGB, (x - 127.5) / 128, NCHW; output: 128 floats,
normalised here. Chosen on the development identity sets (docs/identity.md): RGB separated
people better than BGR there (FNMR at FMR 0.1% on krasserm-lfw 2.9% against 4.1%).
"""

from __future__ import annotations

from processors.vision.aligned_embedder import AlignedEmbedder, AlignedModel
from vigil.core.plugins import MOBILEFACENET_WEIGHTS

MOBILEFACENET = AlignedModel(weights=MOBILEFACENET_WEIGHTS, layout="nchw", rgb=True,
                             mean=127.5, std=128.0)


class MobileFaceNetEmbedder(AlignedEmbedder):
    """128-d unit embeddings of faces aligned by their five landmarks."""

    name = "mobilefacenet"
    model = MOBILEFACENET
