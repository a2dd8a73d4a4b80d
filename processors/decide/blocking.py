"""Blocking a client through the control plane when escalation says ``block``.

The control plane (control/clients.py) owns client state: the block is stored in the user
database, mirrored to Redis (the gateway closes the session at once) and announced as a
ControlEvent(kind=blocked) on ``{ns}.control``. A client the database does not know (a stage
fed by another deployment's gateway) still gets the ControlEvent, so every stage learns of it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from control.clients import ClientControl
from control.users.db import ClientState, UnknownClientError
from control.users.repository import open_repository
from schemas.events import ControlEvent, ControlKind
from vigil.core.flow import CONTROL, DECIDE_STAGE
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

ACTOR = DECIDE_STAGE.name  # who blocked, as the control event says


def blocked_event(client_id: str, reason: str, at_ms: int) -> ControlEvent:
    """The ControlEvent that tells every stage the client is blocked."""
    return ControlEvent(event_id=uuid.uuid4().hex, client_id=client_id,
                        kind=ControlKind.BLOCKED, reason=reason[:500], at=at_ms, actor=ACTOR)


def block_through_control_plane(settings: Settings, client_id: str, reason: str) -> bool:
    """Block the client in the database, Redis and the control topic; False if unknown."""
    repo = open_repository(settings)
    control = ClientControl(settings, repo)
    try:
        control.set_state(client_id, ClientState.BLOCKED, reason, actor=ACTOR)
    except UnknownClientError:
        return False
    finally:
        control.close()
        repo.close()
    return True


def block_or_event(settings: Settings, client_id: str, reason: str, at_ms: int
                   ) -> ControlEvent | None:
    """Block the client through the control plane; for a client the database does not know,
    the ControlEvent the caller must send on ``control`` instead (blocks: database work)."""
    if block_through_control_plane(settings, client_id, reason):
        log.warning("client blocked client_id=%s via the control plane reason=%s", client_id,
                    reason)
        return None
    return blocked_event(client_id, reason, at_ms)


async def block_client(settings: Settings, control_topic: Any, client_id: str, reason: str,
                       at_ms: int) -> None:
    """Block the client (see the module docstring); the database work runs off the loop."""
    loop = asyncio.get_running_loop()
    event = await loop.run_in_executor(None, block_or_event, settings, client_id, reason, at_ms)
    if event is None:
        return
    await control_topic.send(key=client_id.encode(), value=CONTROL.serializer.dumps(event))
    log.warning("client blocked client_id=%s event_id=%s reason=%s", client_id, event.event_id,
                reason)
