"""The `vigil` command: one CLI, one subcommand per job.

Each area registers its own subcommands (`register(subparsers)`), so this file stays a table
of contents. Handlers take the parsed arguments and return an exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import logging
import sys
from collections.abc import Callable, Sequence

from schemas.serializers import ContractError
from vigil.core.errors import VigilError
from vigil.core.settings import SettingsError, load_settings

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
    from vigil.local import infra
    from vigil.local.kafka_cluster import cluster_bootstrap, cluster_nodes

    brokers = {"kafka_brokers": args.brokers} if args.brokers else {}
    settings = load_settings(args.config, **brokers)
    if args.action == "up":
        statuses = infra.infra_up(settings)
        for status in statuses:
            print(status.line())
        bootstrap = cluster_bootstrap(cluster_nodes(settings))
        print(f"kafka bootstrap: {bootstrap}  redis: {settings.redis.url}")
        if bootstrap != settings.kafka.bootstrap:
            print(f"set VIGIL_KAFKA_BOOTSTRAP={bootstrap} so every client can reach any node")
        return 0
    if args.action == "down":
        for name, was_running in infra.infra_down(settings):
            state = "stopped" if was_running else "was not running (not started here)"
            print(f"{name:<8} {state}")
        return 0
    statuses = infra.infra_status(settings)
    for status in statuses:
        print(status.line())
    return 0 if all(s.healthy for s in statuses) else 1


def _topics(args: argparse.Namespace) -> int:
    from vigil.core.topics import create_topics

    settings = load_settings(args.config)
    for report in create_topics(settings, partitions=args.partitions,
                                replication_factor=args.replication_factor):
        verb = "created" if report.created else "exists "
        fixed = ", retention fixed" if report.retention_changed else ""
        kept = ("compacted" if report.retention_ms is None
                else f"retention {report.retention_ms / 3_600_000:g} h")
        print(f"{verb} {report.name} ({report.partitions} partitions, {kept}{fixed})")
    return 0


def _schemas(args: argparse.Namespace) -> int:
    from schemas.export import export_json_schemas

    for path in export_json_schemas():
        print(f"wrote {path}")
    return 0


def _up(args: argparse.Namespace) -> int:
    from vigil.apps.up import run_up

    return run_up(load_settings(args.config))


def _client(args: argparse.Namespace) -> int:
    import asyncio
    import ssl

    from ingest.protocol import stream_url
    from vigil.apps.client import image_paths, print_message, stream_frames, webcam_frames

    settings = load_settings(args.config)
    frames = webcam_frames(image_paths(args.images), quality=args.quality)
    url = args.url or stream_url(settings)
    trust = ssl.create_default_context(cafile=args.cafile) if args.cafile else None
    report = asyncio.run(stream_frames(url, args.client_id, args.token, frames, fps=args.fps,
                                       reply_timeout_s=args.timeout, ssl_context=trust,
                                       on_message=print_message))
    if report.close_code not in (None, 1000):
        print(f"closed by the server: {report.close_code} {report.close_reason}")
        return 1
    if report.lost:
        print(f"{len(report.lost)} of {len(frames)} frames got no decision: {report.lost}")
        return 1
    print(f"{len(frames)} frames, {len(report.decisions)} decisions")
    return 0


def _run_stage(args: argparse.Namespace) -> int:
    from vigil.apps.run_stage import run_stage
    from vigil.core.flow import stage

    entry = stage(args.stage)
    return run_stage(entry, load_settings(args.config), args.metrics_port)


def _register_stages(sub: argparse._SubParsersAction) -> None:
    """`vigil ingest`, `vigil process NAME`, `vigil sink NAME`: one stage of the table."""
    from vigil.core.flow import STAGES, names
    from vigil.core.flow_types import StageKind

    port_help = ("port of /metrics and /healthz (default: METRICS_PORT_BASE + the stage's "
                 "place in the table; 0 turns them off)")
    helps = {StageKind.GATEWAY: "run the WebSocket gateway in this process",
             StageKind.PROCESSOR: "run one processing stage (a consumer group member)",
             StageKind.SINK: "run one sink (consumer of decisions)"}
    for kind in StageKind:
        parser = sub.add_parser(kind.value, help=helps[kind])
        if kind is StageKind.GATEWAY:
            parser.set_defaults(stage=names(kind)[0])
        else:
            parser.add_argument("stage", choices=names(kind), help="; ".join(
                f"{s.name}: {s.description}" for s in STAGES if s.kind is kind))
        parser.add_argument("--metrics-port", type=int, default=None, help=port_help)
        parser.set_defaults(handler=_run_stage)


def _register_core(sub: argparse._SubParsersAction) -> None:
    up = sub.add_parser("up", help="run the whole system on this machine (Ctrl-C stops it)")
    up.set_defaults(handler=_up)

    client = sub.add_parser("client", help="reference client: stream images, print decisions")
    client.add_argument("--client-id", required=True)
    client.add_argument("--token", required=True)
    client.add_argument("images", nargs="+", metavar="IMAGE_OR_DIR")
    client.add_argument("--fps", type=float, default=2.0)
    client.add_argument("--url", help="default: ws://GATEWAY_HOST:GATEWAY_PORT/v1/stream "
                        "(wss:// when tls_cert is set)")
    client.add_argument("--cafile", help="PEM certificates to trust for wss:// instead of "
                        "the system's (e.g. a self-signed gateway's tls_cert)")
    client.add_argument("--quality", type=int, default=80, help="JPEG quality of the frames")
    client.add_argument("--timeout", type=float, default=30.0,
                        help="seconds to wait for the last decisions")
    client.set_defaults(handler=_client)

    infra = sub.add_parser("infra", help="the local Kafka broker and Redis server")
    infra.add_argument("action", choices=["up", "down", "status"])
    infra.add_argument("--brokers", type=int, default=None,
                       help="Kafka nodes to run, 1 or 3 (default: the kafka_brokers setting, "
                       "else one per kafka_bootstrap address); down and status find them all")
    infra.set_defaults(handler=_infra)

    topics = sub.add_parser("topics", help="create every topic under the namespace")
    topics.add_argument("action", choices=["create"])
    topics.add_argument("--partitions", type=int, default=None, help="default: settings (12)")
    topics.add_argument("--replication-factor", type=int, default=None,
                        help="default: the setting, else 3 on 3+ brokers, else their count")
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
    from console import cli as console_cli
    from control import cli as control_cli
    from processors.vision import cli as vision_cli
    from sinks import cli as sinks_cli
    from vigil.apps import clients_cli
    from vigil.apps.bench import cli as bench_cli
    from vigil.apps.devdata import cli as devdata_cli
    from vigil.backup import cli as backup_cli

    return [_register_core, _register_stages, vision_cli.register, bench_cli.register,
            clients_cli.register, control_cli.register, sinks_cli.register, console_cli.register,
            backup_cli.register, devdata_cli.register]


def main(argv: Sequence[str] | None = None) -> int:
    # A crash in a native library (librdkafka, OpenCV, a model runtime) prints the Python
    # stacks of every thread to stderr, which `vigil up` keeps in its log, instead of nothing.
    with contextlib.suppress(OSError):  # a stderr with no file descriptor (captured) has none
        faulthandler.enable()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        configure_logging(load_settings(args.config).deployment.log_level)
        handler: Handler = args.handler
        return handler(args)
    except VigilError as exc:
        # Errors meant for a person: one line and the exit code the error carries.
        prefix = "bad settings: " if isinstance(exc, SettingsError) else ""
        print(f"vigil: {prefix}{exc.message}", file=sys.stderr)
        return exc.exit_code
    except ContractError as exc:
        # Bytes that break a topic's contract, meant for a person as a VigilError is (schemas/
        # imports nothing of vigil/, so its error cannot derive from VigilError).
        print(f"vigil: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
