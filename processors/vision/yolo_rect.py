"""The YOLO11 IR given a rectangular input: a 640x480 webcam frame without 160 rows of grey.

The IR was exported for a static 640x640 square, and ``model.reshape`` to anything else
fails: a few shapes are constants in the graph, written for the square's 20x20 grid at stride
32 and its 8400 anchors (80x80 + 40x40 + 20x20). This rewrites exactly those constants for
an H x W input (both multiples of 32) and lets OpenVINO infer every other shape:

- the attention block's Reshapes: ``[1, 2, 128, 400]`` -> ``[1, 2, 128, H/32 * W/32]`` and
  ``[1, 128, 20, 20]`` -> ``[1, 128, H/32, W/32]``;
- the head's Reshapes of the anchor axis (``[1, 4, 16, 8400]``, ``[1, 4, 8400]``);
- the anchor centres ``[1, 2, 8400]`` (x + 0.5, y + 0.5 per cell, level by level) and the
  strides ``[1, 1, 8400]``, recomputed for the new grids.

That is what Ultralytics' own rectangular inference computes for the same weights. Measured:
16.9 ms of CPU a 640x480 inference against 21.0 for the square (one thread), the same phone
box within a pixel (tests/vision/test_second_wave_plugins.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vigil.core.errors import VigilError

STRIDES = (8, 16, 32)


class RectInputError(VigilError, RuntimeError):
    """The IR does not have the constants this rewrite knows (another export)."""


def _grids(height: int, width: int) -> list[tuple[int, int]]:
    return [(height // s, width // s) for s in STRIDES]


def anchor_centres(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``[1, 2, N]`` anchor centres and ``[1, 1, N]`` strides of an H x W input."""
    grids = _grids(height, width)
    centres = np.concatenate([
        np.stack(np.meshgrid(np.arange(cols) + 0.5, np.arange(rows) + 0.5), 0).reshape(2, -1)
        for rows, cols in grids], axis=1)[None].astype(np.float32)
    strides = np.concatenate([np.full(rows * cols, stride, np.float32)
                              for (rows, cols), stride in zip(grids, STRIDES, strict=True)])
    return centres, strides[None, None]


def rect_model(model: Any, square: int, height: int, width: int) -> Any:
    """A copy of the square ``model`` with an ``1 x 3 x height x width`` input."""
    import openvino as ov
    from openvino import opset13 as ops

    if height % STRIDES[-1] or width % STRIDES[-1]:
        raise RectInputError(f"{width}x{height}: both sides must be multiples of 32")
    model = model.clone()
    old_cells, new_cells = (square // 32) ** 2, (height // 32) * (width // 32)
    old_n = sum(rows * cols for rows, cols in _grids(square, square))
    new_n = sum(rows * cols for rows, cols in _grids(height, width))
    centres, strides = anchor_centres(height, width)
    rewritten: dict[str, int] = {"reshape": 0, "centres": 0, "strides": 0}
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind == "Reshape" and op.input_value(1).get_node().get_type_name() == "Constant":
            target = [int(v) for v in op.input_value(1).get_node().get_data().tolist()]
            new = _new_target(target, square, old_cells, new_cells, old_n, new_n, height, width)
            if new != target:
                op.input(1).replace_source_output(
                    ops.constant(np.array(new, dtype=np.int64)).output(0))
                rewritten["reshape"] += 1
        elif kind == "Constant" and tuple(op.get_output_shape(0)) in ((1, 2, old_n),
                                                                       (1, 1, old_n)):
            which = "centres" if op.get_output_shape(0)[1] == 2 else "strides"
            replacement = ops.constant(centres if which == "centres" else strides)
            for consumer in list(op.output(0).get_target_inputs()):
                consumer.replace_source_output(replacement.output(0))
            rewritten[which] += 1
    if rewritten["reshape"] < 3 or not rewritten["centres"] or not rewritten["strides"]:
        raise RectInputError(f"the IR has not the fixed shapes of a YOLO11 export: {rewritten}")
    model.get_parameters()[0].set_partial_shape(ov.PartialShape([1, 3, height, width]))
    model.validate_nodes_and_infer_types()
    return model


def _new_target(target: list[int], square: int, old_cells: int, new_cells: int, old_n: int,
                new_n: int, height: int, width: int) -> list[int]:
    """A Reshape's target shape for the new input (unchanged when it names no grid)."""
    side = square // 32
    if len(target) == 4 and target[2:] == [side, side]:
        return [*target[:2], height // 32, width // 32]
    return [new_cells if v == old_cells else new_n if v == old_n else v for v in target]
