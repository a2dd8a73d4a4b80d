"""The sinks' commands: ``vigil evidence show|purge``, ``vigil audit verify``.

``register(subparsers)`` is called from ``vigil/apps/cli.py``. Handlers take the parsed arguments,
build the settings with ``load_settings`` and return an exit code; an error meant for the user
is raised as a ``VigilError``, which the `vigil` command prints on one line to stderr.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import socket
import sys
from pathlib import Path

from control.users.crypto import CryptoError
from sinks.audit import audit_log_path
from sinks.audit_access import AccessLog
from sinks.audit_log import AuditError
from sinks.audit_verify import reanchor, verify_anchored
from sinks.evidence_store import EvidenceError, find_evidence, purge_evidence, read_evidence
from vigil.core.command import command_settings
from vigil.core.errors import VigilError


def _evidence_show(args: argparse.Namespace) -> int:
    settings = command_settings(args)
    try:
        item = read_evidence(settings, find_evidence(settings, args.frame_id))
    except (EvidenceError, OSError) as exc:
        raise VigilError(str(exc)) from exc
    # Like the console, the view is written to the audit chain before anything is shown.
    access = AccessLog(audit_log_path(settings))
    try:
        access.record("cli-show", getpass.getuser(), "cli", item.decision, None,
                      f"{socket.gethostname()} pid {os.getpid()}")
    except (AuditError, OSError) as exc:
        raise VigilError(f"evidence not shown: its view could not be written to the audit "
                         f"log {access.path}: {exc}") from exc
    finally:
        access.close()
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
    settings = command_settings(args)
    removed = purge_evidence(settings)
    print(
        f"purged {removed} evidence items older than {settings.sinks.evidence_retention_days} days"
    )
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    settings = command_settings(args)
    path: Path = args.file or audit_log_path(settings)
    try:
        verdict = verify_anchored(settings, path, use_kafka=not args.no_kafka)
    except (AuditError, CryptoError, OSError) as exc:
        raise VigilError(str(exc)) from exc
    for note in verdict.notes:
        print(f"vigil: note: {note}", file=sys.stderr)
    last = verdict.last_good.describe() if verdict.last_good else "none"
    if not verdict.ok:
        raise VigilError(f"audit log {path} is NOT intact: {verdict.problem}; last good "
                         f"checkpoint: {last}")
    print(f"audit log {path} intact: {verdict.chain.lines} lines; last good checkpoint: {last}")
    return 0


def _audit_reanchor(args: argparse.Namespace) -> int:
    settings = command_settings(args)
    path: Path = args.file or audit_log_path(settings)
    try:
        checkpoint, previous = reanchor(settings, path, args.reason,
                                        use_kafka=not args.no_kafka)
    except (AuditError, CryptoError, OSError) as exc:
        raise VigilError(str(exc)) from exc
    replaced = previous.describe() if previous else "none"
    print(f"audit log {path} re-anchored at line {checkpoint.lines} (a `reanchored` line "
          f"records it); the checkpoint it replaced: {replaced}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``evidence`` and ``audit`` to the ``vigil`` command (``vigil sink`` runs a sink)."""
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
    check = audit_actions.add_parser("verify", help="check every line's hash and chain link, "
                                     "and the log against its keyed checkpoints")
    check.add_argument("--file", type=Path, default=None,
                       help="audit log (default: the audit_log setting)")
    check.add_argument("--no-kafka", action="store_true",
                       help="check only the checkpoint file, not the audit-checkpoints topic")
    check.set_defaults(handler=_audit_verify)
    anchor = audit_actions.add_parser(
        "reanchor", help="accept a log restored from a backup (shorter than its checkpoint): "
        "record that in the chain and checkpoint it anew; needs the data key")
    anchor.add_argument("--reason", required=True, help="recorded in the `reanchored` line")
    anchor.add_argument("--file", type=Path, default=None,
                        help="audit log (default: the audit_log setting)")
    anchor.add_argument("--no-kafka", action="store_true",
                        help="write the checkpoint file only, not the audit-checkpoints topic")
    anchor.set_defaults(handler=_audit_reanchor)
