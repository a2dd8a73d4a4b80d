"""`vigil bench challenges`: its arguments (the bench is run.py, the data headturn_data.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vigil.apps.bench import TESTDATA
from vigil.core.command import command_settings

DEVDATA = Path("/work/devdata")


def _run(args: argparse.Namespace) -> int:
    from vigil.apps.bench.challenges.headturn_data import build
    from vigil.apps.bench.challenges.run import run_bench_challenges

    if args.to_sessions:
        from vigil.apps.bench.challenges.sessions_data import write_headturn_sessions

        for folder in args.to_sessions:
            print("\n".join(write_headturn_sessions(Path(folder))))
        return 0
    data = Path(args.data)
    if args.build:
        print("\n".join(build(Path(args.mirror), data)))
    return run_bench_challenges(command_settings(args), data,
                                [Path(p) for p in args.photos], args.photo_limit,
                                Path(args.save) if args.save else None)


def register(bench_sub: argparse._SubParsersAction) -> None:
    parser = bench_sub.add_parser(
        "challenges", help="head-turn challenges: real turns passed, flat pictures refused")
    parser.add_argument("--data", default=str(DEVDATA / "headturn"),
                        help="the head-turn set (genuine/, screen_replay/, phone_replay/)")
    parser.add_argument("--build", action="store_true",
                        help="build the head-turn set into --data first, from --mirror")
    parser.add_argument("--mirror", default="/work/.mirror",
                        help="repository snapshots, as OWNER+NAME/repo git folders")
    parser.add_argument("--photos", nargs="*", default=[
        str(TESTDATA / "faces"),
        str(DEVDATA / "frames" / "pourfard-mixed" / "bona_fide")],
        help="folders of photos to move as flat pictures")
    parser.add_argument("--photo-limit", type=int, default=60,
                        help="photos used at most, per folder")
    parser.add_argument("--to-sessions", nargs="+", metavar="DIR",
                        help="write head-turn sessions (headturn/) into these session sets "
                        "for `vigil bench sessions`, and stop (sessions_data.py)")
    parser.add_argument("--save", default="bench-out/challenge-trials.json",
                        help="every trial as JSON")
    parser.set_defaults(handler=_run)
