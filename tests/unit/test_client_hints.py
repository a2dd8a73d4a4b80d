"""Both clients say what to do about a poor picture or a held session: `vigil client`'s
hint line, and the browser page's words for every reason and quality issue."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from schemas.events import QualityIssue, Reason
from vigil.apps.client import decision_hint, print_message

WORDS_JS = Path(__file__).resolve().parents[2] / "ingest" / "web" / "words.js"


def _object_keys(source: str, name: str) -> set[str]:
    """The keys of a `const NAME = { key: "...", ... };` object in words.js."""
    match = re.search(rf"const {name} = \{{(.*?)\n\}};", source, re.S)
    assert match, f"no object {name} in words.js"
    return set(re.findall(r"^\s+(\w+):", match.group(1), re.M))


def test_the_page_has_words_for_every_reason_and_quality_issue() -> None:
    source = WORDS_JS.read_text(encoding="utf-8")
    assert _object_keys(source, "REASONS") == {r.value for r in Reason}
    assert _object_keys(source, "ISSUES") == {i.value for i in QualityIssue}
    # The remedies a person can act on.
    assert "More light" in source and "Come closer" in source and "Move back" in source


@pytest.mark.parametrize(("issues", "expected"), [
    (["dark"], "more light, please"),
    (["small", "blurred"], "come closer to the camera; hold still and clean the lens"),
    (["bright"], "less light, please (a lamp or window behind or on the face)"),
    (["large"], "move back from the camera"),
])
def test_the_cli_names_the_remedy_of_a_poor_picture(
        issues: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    message = {"type": "decision", "seq": 4, "action": "lock_screen", "reason": "poor_quality",
               "scores": {"liveness": 0.2}, "issues": issues}
    assert decision_hint(message) == expected
    print_message(message)
    assert capsys.readouterr().out.rstrip().endswith(f"-> {expected}")


def test_the_cli_says_a_held_session_is_being_verified_and_nothing_when_allowed() -> None:
    held = {"type": "decision", "seq": 1, "action": "lock_screen", "reason": "verifying"}
    assert "verifying" in decision_hint(held)
    assert decision_hint({"type": "decision", "seq": 2, "action": "allow", "reason": "ok"}) == ""


def test_the_gateway_sends_the_issues_only_when_there_are_some() -> None:
    from ingest.protocol import decision
    from schemas.events import Action, Decision, FrameRef

    fields = {"frame_id": "f1", "client_id": "c1", "session_id": "s1", "seq": 1,
              "frame": FrameRef(topic="t", partition=0, offset=1), "captured_at": 1,
              "received_at": 2, "decided_at": 3, "action": Action.LOCK_SCREEN,
              "policy_version": "1@x"}
    poor = decision(Decision(**fields, reason=Reason.POOR_QUALITY,  # type: ignore[arg-type]
                             issues=[QualityIssue.DARK, QualityIssue.SMALL]))
    assert poor["issues"] == ["dark", "small"] and decision_hint(poor) == (
        "more light, please; come closer to the camera")
    assert "issues" not in decision(Decision(**fields, reason=Reason.NO_FACE))  # type: ignore[arg-type]
