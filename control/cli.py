"""The control plane's commands: token, status; and :func:`control_plane`, which every command
that changes a client opens (`vigil enroll` and `vigil clients` in vigil/apps/clients_cli.py,
`vigil weights activate`).

``register(subparsers)`` is called from ``vigil/apps/cli.py``. Handlers build the settings with
``load_settings`` and return an exit code; an error meant for the user is raised as a
``VigilError``, which the `vigil` command prints on one line to stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from control.clients import ClientControl
from control.users.repository import open_repository
from vigil.core.command import command_settings
from vigil.core.settings import Settings


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


def _token(args: argparse.Namespace) -> int:
    settings = command_settings(args)
    with control_plane(settings) as control:
        control.require(args.client_id)
        if args.action == "issue":
            print(control.issue_token(args.client_id))  # shown once: only its hash is stored
        else:
            control.revoke_token(args.client_id)
            print(f"revoked the token of {args.client_id}", file=sys.stderr)
    return 0


def _status(args: argparse.Namespace) -> int:
    from control.cluster.status import show_status

    settings = command_settings(args)
    return show_status(settings, lambda: open_repository(settings), sys.stdout, sys.stderr)


def register(sub: argparse._SubParsersAction) -> None:
    """Add token and status to the `vigil` command."""
    token = sub.add_parser("token", help="issue (printed once) or revoke a client's token")
    token.add_argument("action", choices=["issue", "revoke"])
    token.add_argument("client_id", metavar="CLIENT_ID")
    token.set_defaults(handler=_token)

    status = sub.add_parser("status", help="live processes, capacity, sessions, clients")
    status.set_defaults(handler=_status)
