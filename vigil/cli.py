"""The `vigil` command: one CLI, one subcommand per job.

Each area registers its own subcommands (`register(subparsers)`), so this file stays a table
of contents. Handlers take the parsed arguments and return an exit code.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from vigil.settings import SettingsError, load_settings

log = logging.getLogger("vigil")

Handler = Callable[[argparse.Namespace], int]


def configure_logging(level: str) -> None:
    """Configure logging once per process: one line per record, UTC timestamps."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    logging.Formatter.converter = __import__("time").gmtime


def _infra(args: argparse.Namespace) -> int:
    from vigil import infra

    settings = load_settings(args.config)
    if args.action == "up":
        statuses = infra.infra_up(settings)
        for status in statuses:
            print(status.line())
        print(f"kafka bootstrap: {settings.kafka_bootstrap}  redis: {settings.redis_url}")
        return 0
    if args.action == "down":
        for name, was_running in infra.infra_down(settings):
            print(f"{name:<6} {'stopped' if was_running else 'was not running (not started here)'}")
        return 0
    statuses = infra.infra_status(settings)
    for status in statuses:
        print(status.line())
    return 0 if all(s.healthy for s in statuses) else 1


def _topics(args: argparse.Namespace) -> int:
    from vigil.topics import create_topics

    settings = load_settings(args.config)
    for report in create_topics(settings, args.partitions, args.replication_factor):
        verb = "created" if report.created else "exists "
        print(f"{verb} {report.name} ({report.partitions} partitions)")
    return 0


def _schemas(args: argparse.Namespace) -> int:
    from schemas.export import export_json_schemas

    for path in export_json_schemas():
        print(f"wrote {path}")
    return 0


def _register_core(sub: argparse._SubParsersAction) -> None:
    infra = sub.add_parser("infra", help="the local Kafka broker and Redis server")
    infra.add_argument("action", choices=["up", "down", "status"])
    infra.set_defaults(handler=_infra)

    topics = sub.add_parser("topics", help="create every topic under the namespace")
    topics.add_argument("action", choices=["create"])
    topics.add_argument("--partitions", type=int, default=None, help="default: settings (12)")
    topics.add_argument("--replication-factor", type=int, default=None, help="default: 1")
    topics.set_defaults(handler=_topics)

    schemas = sub.add_parser("schemas", help="export the JSON Schema files of every event")
    schemas.add_argument("action", choices=["export"])
    schemas.set_defaults(handler=_schemas)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vigil", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="TOML settings file (else VIGIL_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in _registrars():
        register(sub)
    return parser


def _registrars() -> list[Callable[[argparse._SubParsersAction], None]]:
    return [_register_core]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        level = load_settings(args.config).log_level
    except SettingsError as exc:
        print(f"vigil: bad settings: {exc}", file=sys.stderr)
        return 2
    configure_logging(level)
    handler: Handler = args.handler
    try:
        return handler(args)
    except SettingsError as exc:
        print(f"vigil: bad settings: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # Domain errors carry a message meant for the user; show it without a traceback.
        if type(exc).__name__.endswith("Error") and type(exc).__module__.split(".")[0] in {
            "vigil", "control", "ingest", "processors", "sinks", "schemas",
        }:
            print(f"vigil: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    raise SystemExit(main())
