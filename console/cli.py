"""The auditors' commands: ``vigil console``, ``vigil auditors add|list|remove``, ``vigil replay``.

``register(subparsers)`` is called from ``vigil/apps/cli.py``. Handlers return an exit code; an
error meant for the user is raised as a ``VigilError``, which the `vigil` command prints on one
line to stderr.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from console.accounts import add_account
from control.users.db import AuditorRole
from control.users.repository import open_repository
from vigil.core.command import command_settings
from vigil.core.errors import VigilError


def _console(args: argparse.Namespace) -> int:
    from console.routes import Console
    from console.web import serve
    from sinks.audit import audit_log_path
    from vigil.core.forwarded import TrustedProxies

    settings = command_settings(args)
    repo = open_repository(settings)
    console = Console(settings, repo, audit_log_path(settings))
    server = serve(settings.console.host, settings.console.port, console.dispatch,
                   proxies=TrustedProxies.of(settings.gateway.trusted_proxies))
    host, port = server.server_address[:2]
    print(f"auditor console at http://{host!s}:{port}/ (Ctrl-C stops it)", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    worker = threading.Thread(target=server.serve_forever, name="console", daemon=True)
    worker.start()
    try:
        stop.wait()
    finally:
        server.shutdown()
        console.close()
        repo.close()
    return 0


def _auditors(args: argparse.Namespace) -> int:
    repo = open_repository(command_settings(args))
    try:
        if args.action == "list":
            for record in repo.list_auditors():
                print(f"{record.name:<24} {record.role.value}")
            return 0
        if not args.name:
            raise VigilError(f"auditors {args.action} needs a NAME")
        if args.action == "remove":
            if not repo.remove_auditor(args.name):
                raise VigilError(f"no console account {args.name!r}")
            print(f"removed {args.name}; its sessions end at their next request",
                  file=sys.stderr)
            return 0
        credential = add_account(repo, args.name, AuditorRole(args.role))
    finally:
        repo.close()
    print(credential)  # shown once: only its salted hash is stored
    print(f"console account {args.name} ({args.role}) added; the credential above is shown "
          "only now", file=sys.stderr)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from processors.decide.policy_file import load_policy
    from processors.decide.replay import print_report, replay
    from vigil.core.utc import parse_utc

    settings = command_settings(args)
    policy = load_policy(args.policy, settings)
    start = parse_utc(args.start) if args.start else None
    end = parse_utc(args.end) if args.end else None
    print_report(replay(settings, policy, args.client, start, end), sys.stdout)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add console, auditors and replay to the `vigil` command."""
    console = sub.add_parser("console", help="serve the auditor console (web pages)")
    console.set_defaults(handler=_console)

    auditors = sub.add_parser("auditors", help="console accounts: add (prints the credential "
                              "once), list, remove")
    auditors.add_argument("action", choices=["add", "list", "remove"])
    auditors.add_argument("name", nargs="?", metavar="NAME")
    auditors.add_argument("--role", choices=[r.value for r in AuditorRole],
                          default=AuditorRole.AUDITOR.value,
                          help="auditor (decisions, evidence, cases) or operator (block "
                          "clients, see accounts); default auditor")
    auditors.set_defaults(handler=_auditors)

    replay = sub.add_parser("replay", help="re-decide past frames under another policy and "
                            "print what would have changed (writes nothing)")
    replay.add_argument("--policy", type=Path, required=True, help="the policy file to try")
    replay.add_argument("--client", help="only this client id")
    replay.add_argument("--from", dest="start", metavar="T",
                        help="first frame time (ISO 8601, UTC unless an offset is given, or "
                        "epoch ms); default: the beginning of the topics")
    replay.add_argument("--to", dest="end", metavar="T",
                        help="last frame time; default: the end of the topics at start")
    replay.set_defaults(handler=_replay)
