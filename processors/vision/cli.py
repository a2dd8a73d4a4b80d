"""CLI subcommands of the vision area: `vigil weights fetch|verify|activate|active` and
`vigil bench models`.

``vigil/apps/cli.py`` calls :func:`register` with its top-level subparsers. The ``bench`` parser
gets its own subparsers; other areas add to it (e.g. ``bench e2e``) through
:func:`bench_subparsers` after :func:`register` ran, or by calling :func:`register_bench` on
a ``bench`` subparsers object they own. Handlers return an exit code.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from vigil.core.settings import load_settings

log = logging.getLogger(__name__)

def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `weights` to the top-level subparsers (`bench models`: see register_bench)."""
    weights = subparsers.add_parser(
        "weights", help="fetch, verify or activate the models and their weight files")
    actions = weights.add_subparsers(dest="action", required=True, metavar="ACTION")
    fetch = actions.add_parser("fetch", help="copy from the mirror or download, then verify")
    fetch.add_argument("--no-progress", action="store_true", help="no progress bar")
    fetch.set_defaults(handler=weights_command)
    actions.add_parser("verify", help="check every file's size and sha256").set_defaults(
        handler=weights_command)
    activate = actions.add_parser(
        "activate", help="make the running stages swap in another plug-in for a role "
        "(stored in the user database, so restarts keep it)")
    activate.add_argument("role", help="face_detector, liveness_model or phone_detector")
    activate.add_argument("name", help="a plug-in name of the registry for that role")
    activate.add_argument("--actor", default="cli", help="who activates it (audit log)")
    activate.set_defaults(handler=activate_command)
    actions.add_parser("active", help="the plug-in chosen for each role, and why").set_defaults(
        handler=active_command)


def register_bench(bench_sub: argparse._SubParsersAction) -> None:
    """Add `models` and `accuracy` to a `bench` subparsers object."""
    models = bench_sub.add_parser("models", help="ms/frame and fps of every vision plug-in")
    models.add_argument("--batches", default="1,8,32",
                        help="comma-separated batch sizes (default 1,8,32)")
    models.add_argument("--repeats", type=int, default=2,
                        help="timed runs per case; the best is kept (default 2)")
    models.add_argument("--quick", action="store_true", help="batches 1,8 and one repeat")
    models.add_argument("--image", type=Path, default=None,
                        help="photo with one face (default: shared testdata spoof/image_T1.jpg)")
    models.add_argument("--no-phone", action="store_true", help="skip the phone detector")
    models.add_argument("--compare", nargs="*", default=[], metavar="NAME",
                        help="alternatives timed beside the configured plug-ins, as in bench "
                        "accuracy: a plug-in name (facenet_openvino), an ensemble RULE:A+B, "
                        "or several joined by commas; each gets its own face chain row")
    models.set_defaults(handler=bench_models_command)
    from processors.accuracy.cli import register_accuracy

    register_accuracy(bench_sub)


def weights_command(args: argparse.Namespace) -> int:
    """`vigil weights fetch|verify`."""
    from vigil.core.weights import fetch_weights, verify_weights

    settings = load_settings(getattr(args, "config", None))
    if args.action == "fetch":
        for status in fetch_weights(settings, progress=not args.no_progress):
            print(f"ok      {status.name}: {status.detail}")
        print(f"weights folder: {settings.weights_path}")
        return 0
    statuses = verify_weights(settings)
    for status in statuses:
        print(f"{'ok' if status.ok else 'BAD':<7} {status.name}: {status.detail}")
    if not all(s.ok for s in statuses):
        print("run `vigil weights fetch` to repair the files marked BAD")
        return 1
    return 0


def activate_command(args: argparse.Namespace) -> int:
    """`vigil weights activate ROLE NAME`."""
    from control.cli import control_plane
    from control.models import activate_model
    from processors.vision.registry import check_activation

    role, name = check_activation(args.role, args.name)  # before opening anything
    with control_plane(load_settings(getattr(args, "config", None))) as control:
        changed = activate_model(control, role, name, args.actor)
    print(f"{role}: {name} {'activated' if changed else 'was active already; announced again'}"
          "; the model stages swap it in between two batches")
    return 0


def active_command(args: argparse.Namespace) -> int:
    """`vigil weights active`."""
    from control.db import open_repository
    from processors.vision.registry import ACTIVATABLE, configured_name

    settings = load_settings(getattr(args, "config", None))
    repo = open_repository(settings)
    try:
        activated = repo.active_models()
    finally:
        repo.close()
    for role in ACTIVATABLE:
        name = activated.get(role)
        why = "activated" if name is not None else "setting"
        print(f"{role:<15} {name or configured_name(settings, role):<18} ({why})")
    return 0


def bench_models_command(args: argparse.Namespace) -> int:
    """`vigil bench models`."""
    from processors.vision.bench import DEFAULT_IMAGE, format_table, run_benchmark

    settings = load_settings(getattr(args, "config", None))
    batches = (1, 8) if args.quick else tuple(int(b) for b in args.batches.split(",") if b)
    if not batches or min(batches) < 1:
        raise ValueError(f"--batches must be positive integers, got {args.batches!r}")
    device_line, rows = run_benchmark(
        settings, image=args.image or DEFAULT_IMAGE, batches=batches,
        repeats=1 if args.quick else max(1, args.repeats), include_phone=not args.no_phone,
        compare=args.compare,
    )
    print(format_table(device_line, rows))
    return 0
