"""Poison values stop at the contract: every timestamp, counter and score a consumer will turn
into a date, a path or a comparison is bounded when the event is read.

A Decision with ``decided_at`` past year 9999 once made the evidence sink crash-loop (its
evidence path is built from the decision's UTC day) until ``vigil up`` gave up on it. Every
event now refuses such values with the topic's one domain error, which the stages dead-letter.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import MAX_EPOCH_MS, Action, Decision, FaceResult, Reason
from schemas.serializers import ContractError, JsonSerializer
from sinks.evidence_store import day_of
from vigil.core.utc import format_utc

DECISION = {
    "schema_version": 1, "frame_id": "f-1", "client_id": "c1", "session_id": "s1", "seq": 1,
    "captured_at": 1_764_000_000_000, "received_at": 1_764_000_000_010,
    "frame": {"topic": "vigil.frames", "partition": 0, "offset": 5},
    "decided_at": 1_764_000_000_200, "action": Action.ALLOW.value, "reason": Reason.OK.value,
    "scores": {"liveness": 0.9}, "missing": [], "policy_version": "v1",
}


def _decision(**changes: object) -> bytes:
    return json.dumps({**DECISION, **changes}).encode()


def test_the_reference_decision_is_valid() -> None:  # the refusals below are not vacuous
    assert JsonSerializer(Decision).loads(_decision()).decided_at == DECISION["decided_at"]


@pytest.mark.parametrize("field", ["captured_at", "received_at", "decided_at"])
@pytest.mark.parametrize("value", [253_402_300_800_000, 10**18, 2**64, -1])
def test_timestamps_out_of_range_are_a_contract_error(field: str, value: int) -> None:
    with pytest.raises(ContractError, match=field):
        JsonSerializer(Decision).loads(_decision(**{field: value}))


@pytest.mark.parametrize("raw", [b'"NaN"', b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_scores_that_are_not_numbers_are_a_contract_error(raw: bytes) -> None:
    data = _decision().replace(b'{"liveness": 0.9}', b'{"liveness": ' + raw + b"}")
    with pytest.raises(ContractError):
        JsonSerializer(Decision).loads(data)


@pytest.mark.parametrize("field", ["seq"])
def test_counters_past_64_bits_are_a_contract_error(field: str) -> None:
    with pytest.raises(ContractError, match=field):
        JsonSerializer(Decision).loads(_decision(**{field: 2**63}))


@settings(max_examples=300, deadline=None)
@given(decided_at=st.integers(min_value=-(2**70), max_value=2**70),
       captured_at=st.integers(min_value=-(2**70), max_value=2**70))
def test_any_decision_that_loads_has_dates_every_sink_can_write(decided_at: int,
                                                                captured_at: int) -> None:
    try:
        decision = JsonSerializer(Decision).loads(
            _decision(decided_at=decided_at, captured_at=captured_at))
    except ContractError:
        assert not (0 <= decided_at <= MAX_EPOCH_MS and 0 <= captured_at <= MAX_EPOCH_MS)
        return
    assert day_of(decision.decided_at) and format_utc(decision.captured_at)


def test_face_results_refuse_poison_timestamps_too() -> None:
    face = {k: v for k, v in DECISION.items()
            if k not in ("decided_at", "action", "reason", "scores", "missing",
                         "policy_version")}
    face |= {"processed_at": 10**17, "faces": [], "live": False, "match": False,
             "enrolled": True, "device": "cpu"}
    with pytest.raises(ContractError, match="processed_at"):
        JsonSerializer(FaceResult).loads(json.dumps(face).encode())
