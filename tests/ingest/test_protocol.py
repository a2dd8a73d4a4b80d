"""Protocol v1 parsing and messages, and the clients file format (no sockets, no broker)."""

from __future__ import annotations

import json

import pytest

from control.clients_file import ClientsFileError, parse_clients_file
from control.users.db import ClientState
from ingest import protocol
from ingest.protocol import FrameInfo, Hello, ProtocolError, UnknownMessage
from ingest.session import TokenBucket


def hello(**fields: object) -> str:
    return json.dumps({"type": "hello", "protocol": 1, "client_id": "alice", "token": "t",
                       **fields})


def test_hello_is_parsed_and_every_malformation_is_a_protocol_error() -> None:
    assert protocol.parse_hello(hello()) == Hello("alice", "t")
    bad: list[str | bytes] = [hello(protocol=2), hello(protocol=True), hello(client_id="../etc"),
           hello(client_id=""), hello(token=""), hello(type="frame"), "[]", "nope", b"\x00"]
    for raw in bad:
        with pytest.raises(ProtocolError):
            protocol.parse_hello(raw)


def test_text_messages_after_welcome() -> None:
    assert protocol.parse_text('{"type":"frame","seq":3,"captured_at":99}') == FrameInfo(3, 99)
    with pytest.raises(UnknownMessage):
        protocol.parse_text('{"type":"bye"}')
    for raw in ('{"type":"frame","seq":"3","captured_at":1}',
                '{"type":"frame","seq":1,"captured_at":-5}'):
        with pytest.raises(ProtocolError):
            protocol.parse_text(raw)


def test_server_messages_have_the_documented_shape() -> None:
    assert protocol.welcome("s1", 10.0, 1024) == {"type": "welcome", "session_id": "s1",
                                                  "max_fps": 10, "max_frame_bytes": 1024}
    assert protocol.queued(2) == {"type": "queued", "position": 2}
    assert protocol.status("paused", "x") == {"type": "status", "state": "paused",
                                              "reason": "x"}
    assert protocol.error("bad_message", "m") == {"type": "error", "code": "bad_message",
                                                  "message": "m"}
    assert protocol.error("bad_image", "m", seq=7) == {"type": "error", "code": "bad_image",
                                                       "message": "m", "seq": 7}
    assert protocol.is_jpeg(b"\xff\xd8\xff\xe0") and not protocol.is_jpeg(b"\x89PNG")


def test_rate_limit_allows_one_second_of_burst() -> None:
    bucket = TokenBucket(3.0)
    assert [bucket.take() for _ in range(5)] == [True, True, True, False, False]


def test_clients_file_formats() -> None:
    wanted = parse_clients_file("blocked:\n  a: stolen\npaused:\n  - b\n  - a\n")
    assert wanted == {"a": (ClientState.BLOCKED, "stolen"), "b": (ClientState.PAUSED, "")}
    assert parse_clients_file("") == {}
    for bad in ("- a\n", "blocked: 3\n", "frozen: [a]\n"):
        with pytest.raises(ClientsFileError):
            parse_clients_file(bad)


def test_clients_file_refuses_ids_that_are_not_client_ids() -> None:
    with pytest.raises(ClientsFileError, match="alice smith"):
        parse_clients_file("blocked:\n  alice smith: stolen\n")


def _decision_with(challenge: object) -> object:
    from schemas.events import Action, ChallengeProgress, Decision, FrameRef, Reason

    assert challenge is None or isinstance(challenge, ChallengeProgress)
    return Decision(frame_id="f1", client_id="alice", session_id="s1", seq=3,
                    frame=FrameRef(topic="t", partition=0, offset=1), captured_at=1,
                    received_at=2, decided_at=1000, action=Action.LOCK_SCREEN, reason=Reason.OK,
                    policy_version="p", challenge=challenge)


def test_a_decision_that_asks_a_challenge_becomes_the_challenge_then_the_decision() -> None:
    from schemas.events import ChallengeKind, ChallengeProgress, ChallengeState, Decision

    asked = ChallengeProgress(id="ch-1", action=ChallengeKind.TURN_LEFT,
                              state=ChallengeState.PENDING, issued=True, trigger="doubt",
                              deadline_at=11_000, deadline_ms=10_000)
    event = _decision_with(asked)
    assert isinstance(event, Decision)
    challenge, decision = protocol.replies(event, now=4_000)
    # The time left, by the gateway's clock: the client counts down from receipt.
    assert challenge == {"type": "challenge", "id": "ch-1", "action": "turn_left",
                         "deadline_ms": 7_000}
    assert decision["challenge"] == {"id": "ch-1", "action": "turn_left", "state": "pending",
                                     "progress": 0.0, "detail": ""}
    running = _decision_with(asked.model_copy(update={"issued": False, "progress": 0.5}))
    assert isinstance(running, Decision)
    [only] = protocol.replies(running, now=12_000)
    assert only["type"] == "decision" and only["challenge"]["progress"] == 0.5
    late = protocol.challenge(asked, now=20_000)
    assert late["deadline_ms"] == 0
    plain = _decision_with(None)
    assert isinstance(plain, Decision)
    [message] = protocol.replies(plain)
    assert "challenge" not in message  # decisions without one are as before
