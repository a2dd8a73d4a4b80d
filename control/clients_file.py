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
from collections.abc import Mapping
from pathlib import Path

import yaml

from control.clients import ClientControl
from control.db import ClientState, UserRepository
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
        return {str(client): "" for client in value}
    if isinstance(value, Mapping):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    raise ClientsFileError(f"`{section}` must be a list of client ids or a mapping to reasons")


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


async def watch_clients_file(settings: Settings, repo: UserRepository) -> None:
    """Apply the clients file now and whenever its modification time changes (a task)."""
    assert settings.clients_file is not None
    path = settings.clients_file
    control = ClientControl(settings, repo)
    seen: float | None = -1.0
    try:
        while True:
            mtime = _mtime(path)
            if mtime != seen:
                seen = mtime
                text = "" if mtime is None else await asyncio.to_thread(path.read_text)
                try:
                    changed = await asyncio.to_thread(
                        apply_clients_file, control, parse_clients_file(text))
                    log.info("clients file applied path=%s changed=%d", path, changed)
                    for problem in control.problems.values():
                        log.warning("clients file change stored, not yet delivered: %s",
                                    problem)
                except (ClientsFileError, yaml.YAMLError) as exc:
                    log.error("clients file not applied path=%s error=%s", path, exc)
            await asyncio.sleep(settings.clients_file_poll_s)
    finally:
        await asyncio.to_thread(control.close)
