"""Sessions that move: a lock decided for a frame of the client's previous session reaches
its current session (held while it had none, or sent on), an old allow does not; and a
released session is marked ended for the processors."""

from __future__ import annotations

import asyncio

import pytest
import redis

from control.cluster import redis_keys as keys
from schemas.events import Action, Decision, FrameRef, Reason
from tests.ingest.conftest import SettingsFactory
from tests.ingest.harness import add_client, expect, next_message, running_gateway, welcomed
from vigil.core.flow import DECISIONS
from vigil.core.settings import Settings

pytestmark = pytest.mark.integration


def decision(frame_id: str, session_id: str, action: Action, reason: Reason,
             seq: int = 3) -> Decision:
    return Decision(frame_id=frame_id, client_id="alice", session_id=session_id, seq=seq,
                    frame=FrameRef(topic="t.frames", partition=0, offset=seq),
                    captured_at=1000, received_at=1010, decided_at=1500, action=action,
                    reason=reason, scores={"liveness": 0.1}, policy_version="p")


def test_held_and_moved_decisions_reach_the_current_session(
        make_gateway_settings: SettingsFactory, topics: Settings) -> None:
    settings = make_gateway_settings()
    token = add_client(settings, "alice")
    ns = settings.deployment.namespace
    sync = redis.Redis.from_url(settings.redis.url)
    held = decision("f-held", "s-gone", Action.SIGN_OUT, Reason.SPOOF)
    # As the replies sink does when the client has no session:
    sync.rpush(keys.held_key(ns, "alice"), DECISIONS.serializer.dumps(held))

    async def scenario() -> tuple[list[dict[str, object]], str]:
        async with running_gateway(settings) as gw:
            ws = await welcomed(gw.url, "alice", token)
            seen = [await expect(ws, "decision")]  # the held one, right after welcome
            channel = keys.reply_channel(ns, gw.gateway_id)
            session_id = gw.by_client["alice"].session_id
            for d in (decision("f-old-allow", "s-gone", Action.ALLOW, Reason.OK),
                      decision("f-old-lock", "s-gone", Action.LOCK_SCREEN, Reason.NO_FACE),
                      decision("f-now", session_id, Action.ALLOW, Reason.OK, seq=1)):
                await gw.redis.publish(channel, DECISIONS.serializer.dumps(d))
            seen += [await next_message(ws), await next_message(ws)]
            with pytest.raises(TimeoutError):  # the old allow never comes
                await next_message(ws, timeout_s=0.5)
            await ws.close()
            await asyncio.sleep(0.3)  # the gateway releases the session
            return seen, session_id

    seen, session_id = asyncio.run(scenario())
    assert [(m["frame_id"], m["session_id"], m["action"]) for m in seen] == [
        ("f-held", "s-gone", "sign_out"), ("f-old-lock", "s-gone", "lock_screen"),
        ("f-now", session_id, "allow")]
    assert sync.exists(keys.held_key(ns, "alice")) == 0  # taken, not left for the next one
    # The released session is marked ended, for as long as the setting says.
    ttl = sync.ttl(keys.ended_session_key(ns, session_id))
    assert 0 < ttl <= settings.processors.ended_session_ttl_s
    sync.close()
