"""`vigil bench accuracy DIR [--compare NAME ...] [--perturb] [--det-png FILE]` and
`vigil bench accuracy --make-devset OUT`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from vigil.apps.bench import TESTDATA
from vigil.core.command import command_settings

log = logging.getLogger(__name__)

DEFAULT_TESTDATA = TESTDATA
DEFAULT_DET_PNG = Path("bench-out/accuracy-det.png")


def register_accuracy(bench_sub: argparse._SubParsersAction) -> None:
    """Add `accuracy` to a `bench` subparsers object."""
    accuracy = bench_sub.add_parser(
        "accuracy", help="APCER/BPCER, FMR/FNMR and phone rates over a labelled folder")
    accuracy.add_argument("folder", nargs="?", type=Path, metavar="DIR",
                          help="bona_fide/, attack/, phone/, no_phone/, identities/<name>/")
    accuracy.add_argument("--compare", nargs="*", default=[], metavar="NAME",
                          help="alternatives beside the configured plug-ins: a plug-in name "
                          "(yunet, celebaspoof, yolo_openvino, ...), an ensemble RULE:A+B "
                          "(mean, min, product), or several joined by commas")
    accuracy.add_argument("--perturb", action="store_true",
                          help="darken and blur every picture before it is sent")
    accuracy.add_argument("--det-png", type=Path, default=DEFAULT_DET_PNG,
                          help=f"the threshold sweep plot (default {DEFAULT_DET_PNG})")
    accuracy.add_argument("--markdown", action="store_true",
                          help="print the table as Markdown (for the README)")
    accuracy.add_argument("--scores", type=Path, metavar="CSV",
                          help="also write every picture's liveness, phone and reason per "
                          "alternative")
    accuracy.add_argument("--make-devset", type=Path, metavar="OUT",
                          help="first build the development set into OUT (a new folder)")
    accuracy.add_argument("--testdata", type=Path, default=DEFAULT_TESTDATA,
                          help=f"source pictures of --make-devset (default {DEFAULT_TESTDATA})")
    accuracy.set_defaults(handler=accuracy_command)


def accuracy_command(args: argparse.Namespace) -> int:
    """Build the development set and/or run the benchmark; print the table."""
    from vigil.apps.bench.accuracy.dataset import LabelledSetError

    settings = command_settings(args)
    if args.make_devset is None and args.folder is None:
        raise LabelledSetError("give DIR (a labelled folder) or --make-devset OUT", exit_code=2)
    if args.make_devset is not None:
        from vigil.apps.bench.accuracy.devset import make_devset

        built = make_devset(settings, args.testdata, args.make_devset)
        counts = ", ".join(f"{k} {v}" for k, v in sorted(built.counts.items()))
        print(f"development set in {built.out}: {counts}")
        for name in built.skipped:
            print(f"  no composites of {name}: no face found")
        if args.folder is None:
            return 0
    from vigil.apps.bench.accuracy.bench import run_accuracy

    table = run_accuracy(settings, args.folder, args.compare, args.perturb, args.det_png,
                         markdown=args.markdown, scores_csv=args.scores)
    print(table)
    print(f"DET plot: {args.det_png}")
    return 0
