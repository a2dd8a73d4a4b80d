"""The sinks' commands: ``vigil sink``, ``vigil evidence show|purge``, ``vigil audit verify``.

``register(subparsers)`` is called from ``vigil/apps/cli.py``. Handlers take the parsed arguments,
build the settings with ``load_settings`` and return an exit code; errors meant for the user
are printed on one line to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from sinks.audit import AuditSink, audit_log_path
from sinks.audit_log import AuditError, verify
from sinks.evidence import EvidenceSink
from sinks.evidence_store import EvidenceError, find_evidence, purge_evidence, read_evidence
from sinks.replies import ReplySink
from vigil.core.metrics import serve_metrics
from vigil.core.settings import Settings, load_settings
from vigil.core.stage_loop import stop_on_signals


class Sink(Protocol):
    def run(self) -> None: ...


# Name -> (factory, offset from metrics_port_base, in `vigil up`'s order of processes).
SINKS: dict[str, tuple[Callable[[Settings, threading.Event], Sink], int]] = {
    "evidence": (EvidenceSink, 4),
    "audit": (AuditSink, 5),
    "replies": (ReplySink, 6),
}


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None))


def _fail(message: str) -> int:
    print(f"vigil: {message}", file=sys.stderr)
    return 1


def metrics_port(settings: Settings, name: str, given: int | None) -> int:
    """The port given, else metrics_port_base + the sink's offset (0 when metrics are off)."""
    if given is not None:
        return given
    base = settings.metrics_port_base
    return base + SINKS[name][1] if base else 0


def run_sink(name: str, settings: Settings, port: int) -> int:
    """Run one sink in this process until SIGTERM or SIGINT; metrics on ``port`` (0: off)."""
    factory, _offset = SINKS[name]
    stop = threading.Event()
    stop_on_signals(stop)
    sink = factory(settings, stop)
    server = serve_metrics(port, settings.metrics_host, healthy=lambda: not stop.is_set())
    try:
        sink.run()
    finally:
        if server is not None:
            server.shutdown()
    return 0


def _sink(args: argparse.Namespace) -> int:
    settings = _settings(args)
    return run_sink(args.name, settings, metrics_port(settings, args.name, args.metrics_port))


def _evidence_show(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        item = read_evidence(settings, find_evidence(settings, args.frame_id))
    except (EvidenceError, OSError) as exc:
        return _fail(str(exc))
    print(json.dumps(item.decision.model_dump(mode="json"), indent=2, sort_keys=True))
    if item.jpeg is None:
        print(f"vigil: no frame stored for {args.frame_id}: {item.note}; {args.out} not "
              "written", file=sys.stderr)
        return 0
    out: Path = args.out
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as dst:
        dst.write(item.jpeg)
    print(f"wrote {out} ({len(item.jpeg)} bytes)", file=sys.stderr)
    return 0


def _evidence_purge(args: argparse.Namespace) -> int:
    settings = _settings(args)
    removed = purge_evidence(settings)
    print(f"purged {removed} evidence items older than {settings.evidence_retention_days} days")
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    path: Path = args.file or audit_log_path(_settings(args))
    try:
        result = verify(path)
    except (AuditError, OSError) as exc:
        return _fail(str(exc))
    if not result.ok:
        return _fail(f"audit log {path} is NOT intact: line {result.bad_line}: {result.reason} "
                     f"({result.lines} lines before it verified)")
    print(f"audit log {path} intact: {result.lines} lines")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sink``, ``evidence`` and ``audit`` to the ``vigil`` command."""
    sink = subparsers.add_parser("sink", help="run one sink (consumer of decisions)")
    sink.add_argument("name", choices=sorted(SINKS))
    sink.add_argument("--metrics-port", type=int, default=None,
                      help="port of /metrics and /healthz (default: metrics_port_base + "
                      "4/5/6 for evidence/audit/replies; 0 turns them off)")
    sink.set_defaults(handler=_sink)

    evidence = subparsers.add_parser("evidence", help="read or purge kept evidence")
    actions = evidence.add_subparsers(dest="evidence_action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="decrypt one item: JPEG to --out, decision to stdout")
    show.add_argument("frame_id")
    show.add_argument("--out", type=Path, required=True, help="file to write the JPEG to")
    show.set_defaults(handler=_evidence_show)
    purge = actions.add_parser("purge", help="delete evidence older than the retention period")
    purge.set_defaults(handler=_evidence_purge)

    audit = subparsers.add_parser("audit", help="the hash-chained audit log")
    audit_actions = audit.add_subparsers(dest="audit_action", required=True, metavar="ACTION")
    check = audit_actions.add_parser("verify", help="check every line's hash and chain link")
    check.add_argument("--file", type=Path, default=None,
                       help="audit log (default: the audit_log setting)")
    check.set_defaults(handler=_audit_verify)
