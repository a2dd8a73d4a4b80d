"""The seed's file-based client configuration: a YAML file of blocked and paused clients.

``settings.clients_file`` holds::

    blocked:
      alice: "lost laptop"      # client_id: reason (or a plain list of client ids)
    paused:
      - bob

The gateway checks the file's modification time every ``clients_file_poll_s`` and applies a
changed file through :class:`control.clients.ClientControl` (database, Redis, control topic),
so sessions react without a restart. A client set by the file (actor ``file``) that the file no
longer lists goes back to active; states set with ``vigil clients`` are left alone. An
unreadable file is logged and the previous state kept.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from pathlib import Path

import yaml

from control.clients import ClientControl
from control.users.db import ClientState, UserRepository
from schemas.events import SAFE_ID_PATTERN
from vigil.core.background import BackgroundLoop
from vigil.core.errors import VigilError
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

ACTOR = "file"
Wanted = dict[str, tuple[ClientState, str]]


class ClientsFileError(VigilError, ValueError):
    """The clients file is not the expected YAML."""


def _entries(value: object, section: str) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, list):
        entries = {str(client): "" for client in value}
    elif isinstance(value, Mapping):
        entries = {str(k): "" if v is None else str(v) for k, v in value.items()}
    else:
        raise ClientsFileError(
            f"`{section}` must be a list of client ids or a mapping to reasons")
    bad = sorted(c for c in entries if not re.fullmatch(SAFE_ID_PATTERN, c))
    if bad:
        raise ClientsFileError(f"`{section}` has client ids that are not valid (letters, "
                               f"digits, '.', '_', '-'; at most 128): {bad}")
    return entries


def parse_clients_file(text: str) -> Wanted:
    """client_id -> (state, reason) as the file says; blocked wins over paused."""
    data = yaml.safe_load(text) or {}
    if not isinstance(data, Mapping):
        raise ClientsFileError("the clients file must be a mapping with `blocked` and `paused`")
    unknown = set(data) - {"blocked", "paused"}
    if unknown:
        raise ClientsFileError(f"unknown keys in the clients file: {sorted(unknown)}")
    wanted: Wanted = {c: (ClientState.PAUSED, r) for c, r in
                      _entries(data.get("paused"), "paused").items()}
    wanted.update({c: (ClientState.BLOCKED, r) for c, r in
                   _entries(data.get("blocked"), "blocked").items()})
    return wanted


def apply_clients_file(control: ClientControl, wanted: Wanted) -> int:
    """Bring the database in line with the file; returns how many clients changed."""
    changed = 0
    for client_id, (state, reason) in sorted(wanted.items()):
        changed += control.set_state(client_id, state, reason, ACTOR, create=True)
    for record in control.repo.list_clients():
        if record.state_actor == ACTOR and record.state is not ClientState.ACTIVE \
                and record.client_id not in wanted:
            changed += control.set_state(record.client_id, ClientState.ACTIVE,
                                         "removed from the clients file", ACTOR)
    return changed


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None


class ClientsFileWatcher:
    """Applies the clients file now and whenever its modification time changes.

    :meth:`loop` runs it as a background loop: a file that cannot be applied is logged and
    the previous state kept; any other error is logged, counted and retried (the watcher
    once died for good on a client id with a space in it)."""

    def __init__(self, settings: Settings, repo: UserRepository) -> None:
        assert settings.control.clients_file is not None
        self.path = settings.control.clients_file
        self.poll_s = settings.control.clients_file_poll_s
        self.control = ClientControl(settings, repo)
        self.seen: float | None = -1.0

    async def round(self) -> None:
        mtime = _mtime(self.path)
        if mtime == self.seen:
            return
        text = "" if mtime is None else await asyncio.to_thread(self.path.read_text)
        try:
            wanted = parse_clients_file(text)
        except (ClientsFileError, yaml.YAMLError) as exc:
            log.error("clients file not applied path=%s error=%s", self.path, exc)
            self.seen = mtime  # the same broken file is not parsed again until it changes
            return
        changed = await asyncio.to_thread(apply_clients_file, self.control, wanted)
        self.seen = mtime  # only once applied: a failed round is retried
        log.info("clients file applied path=%s changed=%d", self.path, changed)
        for problem in self.control.problems.values():
            log.warning("clients file change stored, not yet delivered: %s", problem)

    def loop(self) -> BackgroundLoop:
        return BackgroundLoop("clients-file", self.round, self.poll_s)

    async def close(self) -> None:
        await asyncio.to_thread(self.control.close)
