"""`vigil bench calibrate` arguments; the work is in calibrate.py, imported when it runs."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_CALIBRATION_FILE = (Path(__file__).resolve().parents[3] / "processors" / "vision"
                            / "liveness_calibration.toml")


def register_calibrate(bench_sub: argparse._SubParsersAction) -> None:
    """Add `calibrate` to a `bench` subparsers object."""
    calibrate = bench_sub.add_parser(
        "calibrate", help="fit the liveness calibration on development frame sets")
    calibrate.add_argument("folder", type=Path, metavar="DIR",
                           help="a folder of frame sets (each with bona_fide/ and attack/)")
    calibrate.add_argument("--pool", choices=("frames", "all"), default="frames",
                           help="sets to fit on: webcam frame sets only, or crops too")
    calibrate.add_argument("--out", type=Path, default=DEFAULT_CALIBRATION_FILE,
                           help="calibration file to write (default: the shipped "
                           "processors/vision/liveness_calibration.toml)")
    calibrate.add_argument("--dry-run", action="store_true", help="print, write nothing")
    calibrate.add_argument("--cache", type=Path, help="score cache folder (default: "
                           "STATE_DIR/liveness-scores)")
    calibrate.add_argument("--variants-rule", default="fusion",
                           help="the alternative whose worse-picture table is printed")
    calibrate.add_argument("--threshold", type=float, default=0.5,
                           help="liveness threshold of the worse-picture table")
    calibrate.add_argument("--spoof-below", type=float, default=0.1,
                           help="spoof-evidence threshold of the worse-picture table")
    calibrate.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from vigil.apps.bench.calibrate import run_calibrate

    return run_calibrate(args)
