"""`vigil enroll` and `vigil clients`: the client commands that reach past the control plane.

Enrolling runs the vision chain over the photos (processors/enroll.py); forgetting a client
erases its evidence files too (sinks/evidence_store.py). Both change the client through
:func:`control.cli.control_plane`, as every client command does. ``register(subparsers)`` is
called from ``vigil/apps/cli.py``; handlers return an exit code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from control.cli import control_plane
from control.clients import ClientControl
from control.users.db import ClientState
from vigil.core.command import command_settings
from vigil.core.errors import VigilError
from vigil.core.settings import Settings

_STATES = {"block": ClientState.BLOCKED, "pause": ClientState.PAUSED,
           "resume": ClientState.ACTIVE}


def _enroll(args: argparse.Namespace) -> int:
    from processors.enroll import enroll

    settings = command_settings(args)
    paths = [Path(p) for p in args.images]
    with control_plane(settings) as control:
        report = enroll(settings, control, args.client_id, paths, args.name)
    for path in report.accepted:
        print(f"accepted {path}")
    for path, reason in report.refused:
        print(f"refused  {path}: {reason}", file=sys.stderr)
    if not report.accepted:
        raise VigilError(f"nothing enrolled for {args.client_id}: no photo was accepted")
    print(f"enrolled {args.client_id} with {len(report.accepted)} photo(s)")
    return 0


def _clients(args: argparse.Namespace) -> int:
    settings = command_settings(args)
    with control_plane(settings) as control:
        if args.action == "list":
            for r in control.repo.list_clients():
                reason = f"  ({r.state_reason})" if r.state_reason else ""
                print(f"{r.client_id:<24} {r.state.value:<8} enrolled={int(r.enrolled)} "
                      f"embeddings={r.embedding_count} token={int(r.token_hash is not None)} "
                      f"name={r.name!r}{reason}")
            return 0
        if not args.client_id:
            raise VigilError(f"clients {args.action} needs a CLIENT_ID")
        if args.action == "forget":
            return _forget(settings, control, args.client_id, args.reason or "")
        if args.action == "show":
            return _show(settings, control, args.client_id)
        state = _STATES[args.action]
        changed = control.set_state(args.client_id, state, args.reason or "", "cli")
    print(f"{args.client_id}: {state.value}" + ("" if changed else " (unchanged)"))
    return 0


def _show(settings: Settings, control: ClientControl, client_id: str) -> int:
    """One client: its record, and its template's threshold and photo qualities."""
    record = control.require(client_id)
    reason = f" ({record.state_reason})" if record.state_reason else ""
    print(f"client {record.client_id}  name={record.name!r}  state={record.state.value}"
          f"{reason}  token={int(record.token_hash is not None)}")
    template = control.repo.template(client_id) if record.enrolled else None
    if template is None:
        print("not enrolled")
        return 0
    threshold = "global" if template.threshold is None else f"{template.threshold:.3f}"
    made_by = f" by {template.embedder}" if template.embedder else ""
    print(f"enrolled: {len(template.embeddings)} embedding(s) of {template.embeddings.shape[1]} "
          f"dimensions{made_by}")
    basis = f"; {template.threshold_basis}" if template.threshold_basis else ""
    print(f"verify threshold: {threshold} (global verify_threshold "
          f"{settings.models.verify:.3f}){basis}")
    for index, quality in enumerate(template.qualities, start=1):
        print(f"  photo {index}: " + " ".join(f"{k}={v:g}" for k, v in quality.items()))
    return 0


def _forget(settings: Settings, control: ClientControl, client_id: str, reason: str) -> int:
    from sinks.evidence_store import forget_evidence

    erased: list[tuple[int, int]] = []
    destroyed = control.forget(client_id, reason, "cli",
                               lambda cid: erased.append(forget_evidence(settings, cid)))
    deleted, unreadable = erased[0]
    print(f"{client_id}: biometric data erased: {destroyed} key(s) destroyed, enrolled "
          f"embeddings deleted, {unreadable} evidence file(s) now unreadable, {deleted} older "
          "file(s) (under the data key) deleted; recorded in the audit log")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add enroll and clients to the `vigil` command."""
    enroll = sub.add_parser("enroll", help="enroll a client from photos of its user")
    enroll.add_argument("client_id", metavar="CLIENT_ID")
    enroll.add_argument("images", nargs="+", metavar="IMAGE")
    enroll.add_argument("--name", help="the user's name, for operators")
    enroll.set_defaults(handler=_enroll)

    clients = sub.add_parser("clients", help="list clients; show one (its own verify "
                             "threshold); block, pause, resume one; or forget one (erase its "
                             "biometric data for good)")
    clients.add_argument("action", choices=["list", "show", *_STATES, "forget"])
    clients.add_argument("client_id", nargs="?", metavar="CLIENT_ID")
    clients.add_argument("--reason", default="", help="recorded and shown to the client")
    clients.set_defaults(handler=_clients)
