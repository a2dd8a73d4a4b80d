"""`vigil bench sessions DIR [DIR ...] [--fps F] [--compare NAME ...] [--json OUT]
[--plots DIR] [--impostor-pairs N] [--seed S] [--swap-window S] [--cache DIR] [--stack]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from vigil.core.command import command_settings


def register_sessions(bench_sub: argparse._SubParsersAction) -> None:
    """Add `sessions` to a `bench` subparsers object."""
    sessions = bench_sub.add_parser(
        "sessions", help="whole sessions through the models and the decide stage's policy: "
        "attacks allowed, genuine users interrupted, impostors and swaps caught")
    sessions.add_argument("folders", nargs="+", type=Path, metavar="DIR",
                          help="session sets: enroll/<person>/, genuine/, attack/, phone/ "
                          "(<person>.<k>/ folders of frames in capture order)")
    sessions.add_argument("--fps", type=float, default=2.0,
                          help="frames per second the client sends (default 2)")
    sessions.add_argument("--capture-fps", type=float, default=None, metavar="F",
                          help="the frames were captured at F a second: the client sends "
                          "every (F/fps)th (default: every frame is sent)")
    sessions.add_argument("--compare", nargs="*", default=[], metavar="NAME",
                          help="alternatives beside the configured ones, as `vigil bench "
                          "accuracy --compare` takes them, plus policy knobs SECTION.KNOB=VALUE "
                          "(temporal.min_live_frames=5, debounce.spoof=3)")
    sessions.add_argument("--impostor-pairs", type=int, default=None, metavar="N",
                          help="at most N impostor sessions and N swaps, a seeded sample "
                          "(default: every ordered pair)")
    sessions.add_argument("--seed", type=int, default=0, help="seed of that sample")
    sessions.add_argument("--swap-window", type=float, default=3.0, metavar="S",
                          help="a swap is missed without wrong_user within S seconds "
                          "(default 3)")
    sessions.add_argument("--json", type=Path, metavar="OUT",
                          help="also write the figures and every frame's decision as JSON")
    sessions.add_argument("--plots", type=Path, metavar="DIR",
                          help="write a timeline PNG per recorded and swap session here")
    sessions.add_argument("--per-person", action="store_true",
                          help="judge each enrolled person with the own threshold `vigil "
                          "enroll` would set against the other people enrolled here, leaving "
                          "out the person presented (default: the global threshold)")
    sessions.add_argument("--stack", action="store_true",
                          help="also run the configured column's sessions through a running "
                          "Vigil over protocol v1, one enrolled client per session (starts "
                          "`vigil up` when no gateway answers): one more column, and the "
                          "frames decided otherwise than in-process")
    sessions.add_argument("--markdown", action="store_true", help="print Markdown tables")
    sessions.add_argument("--cache", type=Path, metavar="DIR",
                          help="model outputs kept between runs (default "
                          "STATE_DIR/bench-cache/sessions)")
    sessions.set_defaults(handler=sessions_command)


def sessions_command(args: argparse.Namespace) -> int:
    """Run the bench, print the tables, write what was asked."""
    from vigil.apps.bench.sessions.bench import BenchOptions, run_sessions
    from vigil.apps.bench.sessions.report import format_report, write_json

    settings = command_settings(args)
    report = run_sessions(settings, BenchOptions(
        tuple(args.folders), args.fps, args.capture_fps, tuple(args.compare),
        args.impostor_pairs, args.seed, args.swap_window, args.cache, args.per_person,
        args.stack))
    print(format_report(report, markdown=args.markdown))
    if args.json is not None:
        write_json(report, args.json)
        print(f"JSON: {args.json}")
    if args.plots is not None:
        from vigil.apps.bench.sessions.plots import plot_sessions

        written = plot_sessions(report, args.plots)
        print(f"{len(written)} timelines in {args.plots}")
    return 0
