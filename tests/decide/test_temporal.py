"""Temporal evidence: live frames before allow, the rolling liveness mean, sessions."""

from __future__ import annotations

from dataclasses import replace

import pytest

from processors.decide.client_state import ClientStanding
from processors.decide.decider import Decider
from processors.decide.temporal import (
    FrameEvidence,
    LivenessHistory,
    TemporalPolicy,
    gate,
    observe,
)
from schemas.events import Action, Reason
from tests.decide.results import face, face_result, phone_result
from tests.decide.test_decider import make_decider
from tests.decide.test_policy import make_policy

T0 = 1_700_000_000_000


def frame(session: str = "s1", at: int = T0, reason: Reason = Reason.OK,
          liveness: float | None = 0.9) -> FrameEvidence:
    return FrameEvidence(session, at, reason, liveness, live=(liveness or 0) >= 0.5)


def test_a_new_session_starts_a_new_history_and_a_spoof_resets_the_count() -> None:
    h = observe(LivenessHistory(), frame("s1", T0), window=3)
    h = observe(h, frame("s1", T0 + 500), window=3)
    assert (h.session_id, h.live_frames, h.recent) == ("s1", 2, (0.9, 0.9))
    h = observe(h, frame("s1", T0 + 1000, Reason.SPOOF, 0.1), window=3)
    assert (h.live_frames, h.recent) == (0, (0.9, 0.9, 0.1))
    h = observe(h, frame("s1", T0 + 1500, liveness=0.8), window=3)
    assert (h.live_frames, h.recent) == (1, (0.9, 0.1, 0.8))  # the window keeps 3
    h = observe(h, frame("s2", T0 + 2000), window=3)
    assert (h.session_id, h.live_frames, h.recent) == ("s2", 1, (0.9,))


def test_frames_without_a_liveness_verdict_neither_count_nor_reset() -> None:
    h = observe(LivenessHistory(), frame(), window=3)
    for reason, score in ((Reason.NO_FACE, None), (Reason.PHONE, 0.05),
                          (Reason.INCOMPLETE, 0.9), (Reason.STALE, None)):
        h = observe(h, frame(at=T0 + 10, reason=reason, liveness=score), window=3)
    assert (h.live_frames, h.recent) == (1, (0.9,))


def test_a_late_frame_of_an_older_session_only_counts_if_it_is_a_spoof() -> None:
    h = observe(observe(LivenessHistory(), frame("new", T0 + 5000), 3), frame("new", T0 + 5500),
                3)
    assert observe(h, frame("old", T0 + 1000), 3) == h
    late_spoof = observe(h, frame("old", T0 + 1000, Reason.SPOOF, 0.1), 3)
    assert (late_spoof.session_id, late_spoof.live_frames) == ("new", 0)


@pytest.mark.parametrize(
    ("live_frames", "recent", "policy", "allowed"),
    [
        (2, (0.9, 0.9), TemporalPolicy(2, 1), True),
        (1, (0.9,), TemporalPolicy(2, 1), False),
        (0, (), TemporalPolicy(0, 1), True),  # off
        (3, (0.9, 0.2, 0.3), TemporalPolicy(1, 3, 0.5), False),  # mean 0.47
        (3, (0.9, 0.6, 0.3), TemporalPolicy(1, 3, 0.5), True),  # mean 0.6
    ],
)
def test_gate_holds_an_allow_the_session_does_not_support(
    live_frames: int, recent: tuple[float, ...], policy: TemporalPolicy, allowed: bool
) -> None:
    history = LivenessHistory("s", T0, live_frames, recent)
    action, scores = gate(history, Action.ALLOW, policy)
    assert (action is Action.ALLOW) is allowed
    if not allowed:
        assert action is Action.LOCK_SCREEN
        assert scores["live_frames"] == live_frames
        assert scores["live_frames_needed"] == policy.min_live_frames
    # Other actions are never softened.
    assert gate(history, Action.SIGN_OUT, policy) == (Action.SIGN_OUT, {})


def stream(decider: Decider, client: str, session: str, faces: list, start: int = 0,
           at: int = T0) -> list[tuple[Action, Reason]]:
    """Decide one frame per entry of ``faces`` (a list of Face lists); (action, reason) each."""
    out = []
    for n, found in enumerate(faces, start=start):
        fid = f"{session}-{n}"
        decider.on_result("face", face_result(fid, client, found, session_id=session,
                                              received_at=at + 500 * n), 0)
        outcome = decider.on_result("phone", phone_result(fid, client, session_id=session,
                                                          received_at=at + 500 * n), 0)
        assert outcome is not None
        out.append((outcome.decision.action, outcome.decision.reason))
    return out


LIVE, SPOOF = [face(0.9)], [face(0.1)]
HOLD, ALLOW = (Action.LOCK_SCREEN, Reason.OK), (Action.ALLOW, Reason.OK)


def temporal_decider(min_live: int = 3, window: int = 1) -> Decider:
    policy = replace(make_policy(), temporal=TemporalPolicy(min_live, window, 0.5))
    return make_decider(policy)[0]


def test_allow_comes_after_n_live_frames_of_a_session_and_again_after_a_spoof() -> None:
    decider = temporal_decider(min_live=3)
    assert stream(decider, "c1", "s1", [LIVE] * 4) == [HOLD, HOLD, ALLOW, ALLOW]
    assert stream(decider, "c1", "s1", [SPOOF, LIVE, LIVE, LIVE], start=4) == [
        (Action.SIGN_OUT, Reason.SPOOF), HOLD, HOLD, ALLOW]
    # A new session of the client starts over.
    assert stream(decider, "c1", "s2", [LIVE] * 3, at=T0 + 60_000) == [HOLD, HOLD, ALLOW]


def test_a_held_decision_explains_itself_in_its_scores() -> None:
    decider = temporal_decider(min_live=2)
    decider.on_result("face", face_result("h1", "c7"), 0)
    outcome = decider.on_result("phone", phone_result("h1", "c7"), 0)
    assert outcome is not None
    d = outcome.decision
    assert (d.action, d.reason) == HOLD
    assert (d.scores["live_frames"], d.scores["live_frames_needed"]) == (1, 2)
    assert d.scores["rolling_liveness"] == pytest.approx(0.9)


def test_a_low_rolling_mean_holds_frames_that_pass_one_by_one() -> None:
    decider = temporal_decider(min_live=1, window=3)
    wobbly = [[face(0.55)], [face(0.1)], [face(0.6)], [face(0.6)], [face(0.9)]]
    # means over the window: 0.55, 0.33, 0.42, 0.43, 0.7
    assert stream(decider, "c2", "s1", wobbly) == [
        ALLOW, (Action.SIGN_OUT, Reason.SPOOF), HOLD, HOLD, ALLOW]


def test_the_history_survives_the_table_as_json() -> None:
    # The clients table is a changelog-backed Faust table: a restart reads JSON back.
    decider = temporal_decider(min_live=3)
    stream(decider, "c3", "s1", [LIVE] * 2)
    stored = decider.clients["c3"]
    restored = ClientStanding.from_json(stored)
    assert restored.history.live_frames == 2 and restored.history.session_id == "s1"
    assert restored.to_json() == stored
    again = temporal_decider(min_live=3)
    again.clients["c3"] = stored  # a new worker recovering the table
    assert stream(again, "c3", "s1", [LIVE], start=2) == [ALLOW]


def test_entries_written_before_temporal_history_still_load() -> None:
    old = {"streak_reason": "no_face", "streak": 2, "sign_outs": [5]}
    standing = ClientStanding.from_json(old)
    assert standing.history == LivenessHistory() and standing.sign_outs == (5,)
    assert standing.streak is not None and standing.streak.count == 2
