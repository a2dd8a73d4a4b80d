"""`vigil devdata build --mirror DIR --out DIR [--only NAME ...] [--force]` and
`vigil devdata identity [--mirror DIR] [--out DIR] [--only SET ...]` (identity sets) and
`vigil devdata cohort SET_DIR ... --out FILE.npy` (an impostor cohort of public faces)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_MIRROR = Path("/work/.mirror")
DEFAULT_OUT = Path("/work/devdata")


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``vigil devdata`` and its ``build`` subcommand."""
    devdata = sub.add_parser("devdata", help="development data sets from fetched public repos")
    devdata_sub = devdata.add_subparsers(dest="devdata_command", required=True,
                                         metavar="ACTION")
    build = devdata_sub.add_parser(
        "build", help="build frames/ and sessions/ sets and SOURCES.md from the snapshots")
    build.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR,
                       help="where the fetched snapshots are (OWNER+NAME/repo)")
    build.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the sets go")
    build.add_argument("--only", nargs="+", metavar="NAME", help="build only these sources")
    build.add_argument("--force", action="store_true",
                       help="rebuild sources whose sets are up to date")
    build.set_defaults(handler=_build)
    identity = devdata_sub.add_parser(
        "identity", help="identity sets (OUT/<set>/<person>/*.jpg) from pinned snapshots")
    identity.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR,
                          help="where the fetched snapshots are (OWNER+NAME/repo)")
    identity.add_argument("--out", type=Path, default=DEFAULT_OUT / "identity",
                          help="where the sets go (default /work/devdata/identity)")
    identity.add_argument("--only", nargs="*", default=[], metavar="SET",
                          help="build only these sets")
    identity.set_defaults(handler=_identity)
    cohort = devdata_sub.add_parser("cohort", help="embeddings of public faces for the "
                                    "identity_cohort_file setting (per-person thresholds)")
    cohort.add_argument("folders", nargs="+", type=Path, metavar="SET_DIR",
                        help="identity sets: <person>/*.jpg")
    cohort.add_argument("--out", type=Path, required=True, help="the .npy file to write")
    cohort.set_defaults(handler=_cohort)


def _build(args: argparse.Namespace) -> int:
    from vigil.apps.devdata import build as builder
    from vigil.apps.devdata.catalog import CLIP_FRAMES
    from vigil.apps.devdata.report import sources_markdown, write_sources_md
    from vigil.apps.devdata.snapshot import SnapshotError
    from vigil.apps.devdata.sources import SOURCES

    chosen = SOURCES
    if args.only:
        unknown = set(args.only) - {s.name for s in SOURCES}
        if unknown:
            raise SnapshotError(f"unknown source(s) {sorted(unknown)}; known: "
                                f"{', '.join(s.name for s in SOURCES)}")
        chosen = tuple(s for s in SOURCES if s.name in args.only)
    args.out.mkdir(parents=True, exist_ok=True)

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    outcomes = builder.build_all(args.mirror, args.out, chosen, force=args.force,
                                 progress=progress)
    # SOURCES.md always lists every source: those not chosen this time from their records.
    everything = builder.with_recorded(args.out, SOURCES, outcomes)
    path = write_sources_md(args.out, sources_markdown(
        everything, clip_frames=CLIP_FRAMES, fps=builder.SESSION_FPS,
        max_frames=builder.SESSION_MAX_FRAMES, enroll=builder.ENROLL_FRAMES))
    skipped = [o for o in outcomes if o.built is None]
    print(f"{len(outcomes) - len(skipped)} of {len(outcomes)} sources ready in {args.out}; "
          f"wrote {path}")
    for outcome in skipped:
        print(f"  skipped {outcome.source.name}: run the fetch tool with "
              f"github:{outcome.source.repo}")
    return 1 if skipped else 0



def _identity(args: argparse.Namespace) -> int:
    from vigil.apps.devdata.identity import build_identity_sets

    built = build_identity_sets(args.mirror, args.out, tuple(args.only))
    for name, people in built.items():
        print(f"{args.out / name}: {len(people)} people, {sum(people.values())} pictures")
    return 0


def _cohort(args: argparse.Namespace) -> int:
    from vigil.apps.devdata.cohort import build_cohort
    from vigil.core.settings import load_settings

    settings = load_settings(getattr(args, "config", None))
    count, dim = build_cohort(settings, args.folders, args.out)
    print(f"{args.out}: {count} embeddings of {dim} dimensions ({settings.models.face_embedder}); "
          "set identity_cohort_file to use it")
    return 0
