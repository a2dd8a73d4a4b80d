"""`vigil bench e2e|accuracy|sessions|temporal|faults|models|challenges`: one group.

``vigil/apps/cli.py`` calls :func:`register` with its top-level subparsers; each benchmark adds
its own subcommand to the ``bench`` group. The parsers are cheap: every handler imports its
benchmark (and the models it runs) only when it runs. Handlers return an exit code.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vigil.apps.bench import TESTDATA
from vigil.core.command import command_settings
from vigil.core.errors import VigilError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `bench` and its subcommands to the top-level subparsers."""
    from vigil.apps.bench import faults
    from vigil.apps.bench.accuracy.cli import register_accuracy
    from vigil.apps.bench.calibrate_cli import register_calibrate
    from vigil.apps.bench.challenges.cli import register as register_challenges
    from vigil.apps.bench.sessions.cli import register_sessions

    bench = subparsers.add_parser("bench", help="benchmarks: figures printed side by side")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True, metavar="BENCH")
    _register_e2e(bench_sub)
    register_accuracy(bench_sub)
    register_sessions(bench_sub)
    _register_temporal(bench_sub)
    faults.register(bench_sub)
    _register_models(bench_sub)
    register_calibrate(bench_sub)
    _register_identity(bench_sub)
    register_challenges(bench_sub)


def _register_identity(bench_sub: argparse._SubParsersAction) -> None:
    det_png = Path("bench-out/identity-det.png")
    bench = bench_sub.add_parser("identity", help="FNMR at FMR 0.1%%/1%% of face embedders "
                                 "over identity sets, side by side")
    bench.add_argument("folders", nargs="+", type=Path, metavar="SET_DIR",
                       help="identity sets: <person>/*.jpg (vigil devdata identity)")
    bench.add_argument("--compare", nargs="*", default=[], metavar="EMBEDDER",
                       help="embedders beside the configured one (facenet, mobilefacenet, ...)")
    bench.add_argument("--threads", type=int, default=2,
                       help="runtime threads of each model (default 2)")
    bench.add_argument("--det-png", type=Path, default=det_png,
                       help=f"the DET plot (default {det_png})")
    bench.set_defaults(handler=_identity_command)


def _identity_command(args: argparse.Namespace) -> int:
    from vigil.apps.bench.identity import identity_command

    return identity_command(args)


def session_frames(folder: Path, capture_fps: float | None, fps: float,
                   enroll_image: str | None) -> tuple[list[Path], Path]:
    """A recorded session's frames as a client at ``fps`` sends them, and the photo to enroll:
    ``enroll_image``, or the first of ``SET/enroll/<person>/`` for ``SET/<kind>/<person>.<k>``."""
    from vigil.apps.bench.sessions.scenarios import sent_frames
    from vigil.apps.client import image_paths

    frames = list(sent_frames(tuple(image_paths([folder])), capture_fps, fps))
    if not frames:
        raise VigilError(f"--session {folder}: no frames in it", exit_code=2)
    if enroll_image:
        return frames, Path(enroll_image)
    enroll = folder.parent.parent / "enroll" / folder.name.split(".")[0]
    photos = image_paths([enroll]) if enroll.is_dir() else []
    if not photos:
        raise VigilError(f"--session {folder}: no photos in {enroll}; give --enroll-image",
                         exit_code=2)
    return frames, photos[0]


def _e2e_command(args: argparse.Namespace) -> int:
    from vigil.apps.bench.e2e import BenchPlan, run_bench_e2e
    from vigil.apps.client import image_paths

    testdata = TESTDATA / "faces"
    images = image_paths(args.images or sorted(testdata.glob("obama_[234].jpg")))
    enroll_image = Path(args.enroll_image or testdata / "obama_1.jpg")
    if args.session:
        images, enroll_image = session_frames(Path(args.session), args.capture_fps, args.fps,
                                              args.enroll_image)
    plan = BenchPlan(
        clients=args.clients, fps=args.fps, duration_s=args.duration,
        images=images, enroll_image=enroll_image,
        plot=Path(args.plot), find_max=args.find_max, ramp_step=args.step,
        max_clients=args.max_clients, p95_bound_s=args.p95_bound,
        raise_capacity=not args.keep_capacity)
    if args.compare_admission:
        from vigil.apps.bench.overload import run_overload

        return run_overload(command_settings(args), plan)
    return run_bench_e2e(command_settings(args), plan)


def _register_e2e(bench_sub: argparse._SubParsersAction) -> None:
    e2e = bench_sub.add_parser("e2e", help="N simulated clients over real WebSockets")
    e2e.add_argument("--clients", type=int, default=4,
                     help="clients streaming at once (with --find-max: the first step)")
    e2e.add_argument("--fps", type=float, default=1.0, help="frames per second per client")
    e2e.add_argument("--duration", type=float, default=60.0,
                     help="seconds of streaming (per step)")
    e2e.add_argument("--find-max", action="store_true",
                     help="ramp the clients until p95 passes --p95-bound or a frame is lost")
    e2e.add_argument("--step", type=int, default=4, help="clients added per ramp step")
    e2e.add_argument("--max-clients", type=int, default=64, help="where the ramp stops")
    e2e.add_argument("--p95-bound", type=float, default=2.0, help="seconds (default 2)")
    e2e.add_argument("--keep-capacity", action="store_true",
                     help="when the bench starts Vigil, keep the configured capacity instead "
                     "of raising it to the client count (queued clients are reported apart)")
    e2e.add_argument("--compare-admission", action="store_true",
                     help="offer --clients at once under each admission rule (the seed's "
                     "session count raised to the clients, then the measured rule's shipped "
                     "defaults), each with its own `vigil up`, and print them side by side")
    e2e.add_argument("--images", nargs="*", help="frames to stream (default: obama_2..4 "
                     "from ../shared/testdata/faces)")
    e2e.add_argument("--enroll-image", help="photo to enroll (default: obama_1, or with "
                     "--session the first photo of the set's enroll/<person>/)")
    e2e.add_argument("--session", help="stream a recorded session instead of --images: a "
                     "folder of frames in capture order (a session set's genuine/<person>.<k>), "
                     "every client from its first frame, again from the start when it ends")
    e2e.add_argument("--capture-fps", type=float, default=None,
                     help="the --session camera's rate: each client sends every "
                     "(capture-fps / fps)-th frame, as a real client would (default: every frame)")
    e2e.add_argument("--plot", default="bench-out/e2e-latency.png", help="PNG latency plot")
    e2e.set_defaults(handler=_e2e_command)


def _temporal_command(args: argparse.Namespace) -> int:
    from vigil.apps.bench.temporal import BenchOptions, run_bench_temporal

    return run_bench_temporal(command_settings(args), BenchOptions(
        Path(args.images) if args.images else TESTDATA,
        Path(args.scores) if args.scores else None, Path(args.save) if args.save else None,
        args.frames, args.fps, tuple(args.grid), args.modelled, args.attack_pass_rate,
        args.genuine_reject_rate, args.persistence))


def _register_temporal(bench_sub: argparse._SubParsersAction) -> None:
    from vigil.apps.bench.temporal import DEFAULT_GRID

    temporal = bench_sub.add_parser(
        "temporal", help="what the policy's temporal evidence costs and buys, over sessions")
    temporal.add_argument("--images", help="folder with bona_fide/ and attack/ images "
                          "(default: ../shared/testdata with its README's labels)")
    temporal.add_argument("--scores", help="JSON of per-frame score sequences (from --save) "
                          "instead of running the models")
    temporal.add_argument("--save", default="bench-out/temporal-scores.json",
                          help="where to save the measured per-frame scores")
    temporal.add_argument("--frames", type=int, default=20, help="frames per session")
    temporal.add_argument("--fps", type=float, default=2.0, help="frame rate for ms figures")
    temporal.add_argument("--grid", nargs="*", default=list(DEFAULT_GRID),
                          metavar="MIN/WINDOW/DEBOUNCE", help="policy variants: "
                          "min_live_frames / rolling window / spoof debounce")
    temporal.add_argument("--modelled", type=int, default=200,
                          help="modelled sessions per label (0: none)")
    temporal.add_argument("--attack-pass-rate", type=float, default=0.25,
                          help="share of attack frames that pass one by one (modelled)")
    temporal.add_argument("--genuine-reject-rate", type=float, default=0.02,
                          help="share of genuine frames rejected one by one (modelled)")
    temporal.add_argument("--persistence", type=float, default=0.8,
                          help="chance a modelled frame repeats the previous one's outcome")
    temporal.set_defaults(handler=_temporal_command)


def _register_models(bench_sub: argparse._SubParsersAction) -> None:
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
    models.set_defaults(handler=_models_command)


def _models_command(args: argparse.Namespace) -> int:
    from vigil.apps.bench.models import DEFAULT_IMAGE, format_table, run_benchmark

    settings = command_settings(args)
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
