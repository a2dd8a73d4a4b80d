"""Convert a torch plug-in's network to an OpenVINO IR (run as a child process).

``python -m processors.vision.torch_export NETWORK WEIGHTS OUT.xml`` loads the network with
the same code the torch plug-in uses (so the same weights, strictly), converts it with
``openvino.convert_model`` from a traced example, makes the batch dimension dynamic and saves
the IR with fp32 weights. :func:`processors.vision.openvino_ir.converted_ir` runs it, so the
serving process never imports torch.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn


def _facenet(weights: Path) -> tuple[nn.Module, tuple[int, int]]:
    from processors.vision.embedder import CROP_SIZE, load_facenet

    return load_facenet(weights), (CROP_SIZE, CROP_SIZE)


def _minifasnet(weights: Path) -> tuple[nn.Module, tuple[int, int]]:
    from processors.vision.liveness import load_minifasnet, parse_model_name

    spec = parse_model_name(weights.name)
    return load_minifasnet(weights), (spec.height, spec.width)


NETWORKS: dict[str, Callable[[Path], tuple[nn.Module, tuple[int, int]]]] = {
    "facenet": _facenet,
    "minifasnet": _minifasnet,
}


def export(network: str, weights: Path, out: Path) -> None:
    """Write ``out`` (and its .bin): the network as an IR, input N x 3 x H x W, N dynamic."""
    import openvino as ov
    import torch

    model, (height, width) = NETWORKS[network](weights)
    converted = ov.convert_model(model, example_input=torch.zeros(1, 3, height, width))
    converted.reshape({0: ov.PartialShape([-1, 3, height, width])})
    ov.save_model(converted, str(out), compress_to_fp16=False)


def main(argv: list[str]) -> int:
    """Entry point: NETWORK WEIGHTS OUT.xml."""
    if len(argv) != 3 or argv[0] not in NETWORKS:
        print(f"usage: torch_export {{{','.join(NETWORKS)}}} WEIGHTS OUT.xml", file=sys.stderr)
        return 2
    export(argv[0], Path(argv[1]), Path(argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
