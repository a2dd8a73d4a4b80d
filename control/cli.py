"""The control plane's commands: enroll, token, clients, status.

``register(subparsers)`` is called from ``vigil/apps/cli.py``. Handlers build the settings with
``load_settings``, return an exit code, and print errors meant for the user on one line to
stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from control.clients import ClientControl
from control.db import ClientState, open_repository
from vigil.core.settings import Settings, load_settings

_STATES = {"block": ClientState.BLOCKED, "pause": ClientState.PAUSED,
           "resume": ClientState.ACTIVE}


def _fail(message: str) -> int:
    print(f"vigil: {message}", file=sys.stderr)
    return 1


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None))


@contextmanager
def control_plane(settings: Settings) -> Iterator[ClientControl]:
    """The control plane for one command; warns about what did not take its changes yet."""
    repo = open_repository(settings)
    control = ClientControl(settings, repo)
    try:
        yield control
    finally:
        control.close()
        repo.close()
    for where, problem in control.problems.items():
        print(f"vigil: warning: {problem}. The change is stored in the user database; "
              f"{where} gets it when it is back (a running gateway delivers the outbox)",
              file=sys.stderr)


def _enroll(args: argparse.Namespace) -> int:
    from control.enroll import enroll

    settings = _settings(args)
    paths = [Path(p) for p in args.images]
    with control_plane(settings) as control:
        report = enroll(settings, control, args.client_id, paths, args.name)
    for path in report.accepted:
        print(f"accepted {path}")
    for path, reason in report.refused:
        print(f"refused  {path}: {reason}", file=sys.stderr)
    if not report.accepted:
        return _fail(f"nothing enrolled for {args.client_id}: no photo was accepted")
    print(f"enrolled {args.client_id} with {len(report.accepted)} photo(s)")
    return 0


def _token(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with control_plane(settings) as control:
        control.require(args.client_id)
        if args.action == "issue":
            print(control.issue_token(args.client_id))  # shown once: only its hash is stored
        else:
            control.revoke_token(args.client_id)
            print(f"revoked the token of {args.client_id}", file=sys.stderr)
    return 0


def _clients(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with control_plane(settings) as control:
        if args.action == "list":
            for r in control.repo.list_clients():
                reason = f"  ({r.state_reason})" if r.state_reason else ""
                print(f"{r.client_id:<24} {r.state.value:<8} enrolled={int(r.enrolled)} "
                      f"embeddings={r.embedding_count} token={int(r.token_hash is not None)} "
                      f"name={r.name!r}{reason}")
            return 0
        if not args.client_id:
            return _fail(f"clients {args.action} needs a CLIENT_ID")
        if args.action == "forget":
            return _forget(settings, control, args.client_id, args.reason or "")
        state = _STATES[args.action]
        changed = control.set_state(args.client_id, state, args.reason or "", "cli")
    print(f"{args.client_id}: {state.value}" + ("" if changed else " (unchanged)"))
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


def _status(args: argparse.Namespace) -> int:
    from control.status import show_status

    settings = _settings(args)
    return show_status(settings, lambda: open_repository(settings), sys.stdout, sys.stderr)


def register(sub: argparse._SubParsersAction) -> None:
    """Add enroll, token, clients and status to the `vigil` command."""
    enroll = sub.add_parser("enroll", help="enroll a client from photos of its user")
    enroll.add_argument("client_id", metavar="CLIENT_ID")
    enroll.add_argument("images", nargs="+", metavar="IMAGE")
    enroll.add_argument("--name", help="the user's name, for operators")
    enroll.set_defaults(handler=_enroll)

    token = sub.add_parser("token", help="issue (printed once) or revoke a client's token")
    token.add_argument("action", choices=["issue", "revoke"])
    token.add_argument("client_id", metavar="CLIENT_ID")
    token.set_defaults(handler=_token)

    clients = sub.add_parser("clients", help="list clients; block, pause, resume one; or "
                             "forget one (erase its biometric data for good)")
    clients.add_argument("action", choices=["list", *_STATES, "forget"])
    clients.add_argument("client_id", nargs="?", metavar="CLIENT_ID")
    clients.add_argument("--reason", default="", help="recorded and shown to the client")
    clients.set_defaults(handler=_clients)

    status = sub.add_parser("status", help="live processes, capacity, sessions, clients")
    status.set_defaults(handler=_status)
