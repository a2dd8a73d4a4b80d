"""Blocking a client through the control plane when escalation says ``block``.

The control plane (control/) owns client state in SQLite and Redis. Until it offers a
function the decide stage can call, this module announces the block the way every stage
learns of one: a ControlEvent(kind=blocked) on ``{ns}.control``, keyed by client_id.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from schemas.events import ControlEvent, ControlKind
from schemas.serializers import CONTROL

log = logging.getLogger(__name__)

ACTOR = "decide"


def blocked_event(client_id: str, reason: str, at_ms: int) -> ControlEvent:
    """The ControlEvent that tells every stage the client is blocked."""
    return ControlEvent(event_id=uuid.uuid4().hex, client_id=client_id,
                        kind=ControlKind.BLOCKED, reason=reason[:500], at=at_ms, actor=ACTOR)


async def block_client(control_topic: Any, client_id: str, reason: str, at_ms: int) -> None:
    """Publish a ``blocked`` ControlEvent for the client on the control topic (a Faust topic).

    TODO(lead): call the control plane's block function here once control/ has one, so the
    block also reaches the user database and Redis.
    """
    event = blocked_event(client_id, reason, at_ms)
    await control_topic.send(key=client_id.encode(), value=CONTROL.dumps(event))
    log.warning("client blocked client_id=%s event_id=%s reason=%s", client_id, event.event_id,
                reason)
