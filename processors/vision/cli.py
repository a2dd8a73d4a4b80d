"""CLI subcommands of the vision area: `vigil weights fetch|verify|prepare|activate|active`.

``vigil/apps/cli.py`` calls :func:`register` with its top-level subparsers (`vigil bench
models` lives with the other benchmarks, in vigil/apps/bench/cli.py). Handlers return an exit
code.
"""

from __future__ import annotations

import argparse
import logging

from vigil.core.command import command_settings

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `weights` to the top-level subparsers."""
    weights = subparsers.add_parser(
        "weights", help="fetch, verify or activate the models and their weight files")
    actions = weights.add_subparsers(dest="action", required=True, metavar="ACTION")
    fetch = actions.add_parser("fetch", help="copy from the mirror or download, then verify")
    fetch.add_argument("--no-progress", action="store_true", help="no progress bar")
    fetch.set_defaults(handler=weights_command)
    actions.add_parser("verify", help="check every file's size and sha256").set_defaults(
        handler=weights_command)
    actions.add_parser(
        "prepare", help="convert (and quantize) the configured face models into the model "
        "cache once, so that no stage does it when it starts").set_defaults(
        handler=prepare_command)
    activate = actions.add_parser(
        "activate", help="make the running stages swap in another plug-in for a role "
        "(stored in the user database, so restarts keep it)")
    activate.add_argument("role", help="face_detector, liveness_model or phone_detector")
    activate.add_argument("name", help="a plug-in name of the registry for that role")
    activate.add_argument("--actor", default="cli", help="who activates it (audit log)")
    activate.set_defaults(handler=activate_command)
    actions.add_parser("active", help="the plug-in chosen for each role, and why").set_defaults(
        handler=active_command)


def weights_command(args: argparse.Namespace) -> int:
    """`vigil weights fetch|verify`."""
    from vigil.core.weights import fetch_weights, verify_weights

    settings = command_settings(args)
    if args.action == "fetch":
        for status in fetch_weights(settings, progress=not args.no_progress):
            print(f"ok      {status.name}: {status.detail}")
        print(f"weights folder: {settings.weights.path}")
        return 0
    statuses = verify_weights(settings)
    for status in statuses:
        print(f"{'ok' if status.ok else 'BAD':<7} {status.name}: {status.detail}")
    if not all(s.ok for s in statuses):
        print("run `vigil weights fetch` to repair the files marked BAD")
        return 1
    return 0


def prepare_command(args: argparse.Namespace) -> int:
    """`vigil weights prepare`: load the configured face chain once (what is not in the model
    cache yet is converted, and FaceNet quantized, then cached), and say what is ready."""
    from processors.vision.chain import FaceChain

    settings = command_settings(args)
    chain = FaceChain.load(settings)
    for role, version in chain.versions.items():
        print(f"ok      {role}: {version}")
    print(f"model cache: {settings.weights.model_cache_path}")
    return 0


def activate_command(args: argparse.Namespace) -> int:
    """`vigil weights activate ROLE NAME`."""
    from control.cli import control_plane
    from processors.model_activation import activate_model
    from processors.vision.registry import check_activation

    role, name = check_activation(args.role, args.name)  # before opening anything
    with control_plane(command_settings(args)) as control:
        changed = activate_model(control, role, name, args.actor)
    print(f"{role}: {name} {'activated' if changed else 'was active already; announced again'}"
          "; the model stages swap it in between two batches")
    return 0


def active_command(args: argparse.Namespace) -> int:
    """`vigil weights active`."""
    from control.users.repository import open_repository
    from processors.vision.registry import ACTIVATABLE, configured_name

    settings = command_settings(args)
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
