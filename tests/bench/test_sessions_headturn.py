"""Head-turn sessions in `vigil bench sessions`, without models: how they are written into a
session set, presented once per challenge kind, asked at their start, and summed up."""

from __future__ import annotations

from pathlib import Path

from processors.decide.policy_file import DEFAULT_POLICY_FILE, load_policy
from schemas.events import Action, ChallengeKind, ChallengeState, Reason
from tests.conftest import require_testdata
from vigil.apps.bench.accuracy.metrics import Ratio
from vigil.apps.bench.challenges.sessions_data import FLAT_NAMES, HOLD, write_headturn_sessions
from vigil.apps.bench.sessions import metrics
from vigil.apps.bench.sessions.decide import Step, asking
from vigil.apps.bench.sessions.layout import load_session_set
from vigil.apps.bench.sessions.scenarios import Presented, present
from vigil.core.settings import Settings

P, F, E = ChallengeState.PASSED, ChallengeState.FAILED, ChallengeState.EXPIRED


def _write(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    for i in range(count):
        (folder / f"{i:04d}.jpg").write_bytes(b"x")


def test_a_head_turn_session_is_presented_once_per_challenge_kind(tmp_path: Path) -> None:
    _write(tmp_path / "s" / "enroll" / "ann", 1)
    _write(tmp_path / "s" / "genuine" / "ann.1", 3)
    _write(tmp_path / "s" / "headturn" / "ann.1", 3)
    _write(tmp_path / "s" / "headturn" / "ann.flat_turned-1", 3)
    shown = present([load_session_set(tmp_path / "s")], ["s/ann"])
    turns = [(s.name, s.asked) for s in shown.sessions if s.kind == "headturn"]
    assert turns == [(f"s/{name} asked {kind.value}", kind)
                     for name in ("ann.1", "ann.flat_turned-1") for kind in ChallengeKind]
    assert all(s.asked is None for s in shown.sessions if s.kind != "headturn")


def test_asking_turns_on_a_challenge_at_the_start_and_nothing_else() -> None:
    policy = load_policy(DEFAULT_POLICY_FILE, Settings())
    assert asking(policy, None) is policy
    asked = asking(policy, ChallengeKind.TURN_RIGHT).challenges
    assert asked.at_start and asked.kinds == (ChallengeKind.TURN_RIGHT,)
    assert asked.on_doubt == policy.challenges.on_doubt
    assert asked.deadline_s == policy.challenges.deadline_s


def _run(name: str, kind: ChallengeKind, states: str, actions: str = "") -> metrics.Ran:
    """A head-turn session's steps: per frame p passed, f failed, e expired, . pending."""
    table = {"p": P, "f": F, "e": E, ".": ChallengeState.PENDING}
    acts = {"a": Action.ALLOW, "l": Action.LOCK_SCREEN, "s": Action.SIGN_OUT}
    actions = actions or "l" * len(states)
    presented = Presented("headturn", "s", f"s/{name} asked {kind.value}", "s/x",
                          tuple(Path(f"{i}.jpg") for i in range(len(states))), asked=kind)
    return presented, [Step(i / 2, acts[a], Reason.OK, None, None, None, table[c])
                       for i, (c, a) in enumerate(zip(states, actions, strict=True))]


def test_head_turn_figures_count_passes_refusals_and_allowed_attacks() -> None:
    left, right = ChallengeKind.TURN_LEFT, ChallengeKind.TURN_RIGHT
    runs = [_run("ann.1", left, "..p", "lla"), _run("ann.1", right, "..e"),
            _run("ann.flat_turned-1", left, ".f.", "lsa"), _run("ann.flat_slid-1", left, "..."),
            _run("ann.flat_turned-1", right, "...", "lll"),
            _run("ann.screen_replay-1", left, ".p", "la")]
    figures = metrics.headturn(runs, fps=2.0)
    assert figures["head turns: challenges passed (turn_left)"] == Ratio(1, 1)
    assert figures["head turns: challenges passed (turn_right)"] == Ratio(0, 1)
    assert figures["head turns: sessions signed out"] == Ratio(0, 2)
    seconds = figures["head turns: seconds to pass (median / p95)"]
    assert isinstance(seconds, metrics.Seconds) and seconds.values == (1.0,) and seconds.of == 2
    assert figures["flat pictures: challenges refused (turn_left)"] == Ratio(2, 2)
    assert figures["flat pictures: failed as flat (turn_left)"] == Ratio(1, 2)
    assert figures["flat pictures: challenges refused (turn_right)"] == Ratio(1, 1)
    assert figures["flat pictures: sessions ever allowed"] == Ratio(1, 3)
    assert figures["replays: challenges refused (turn_left)"] == Ratio(0, 1)
    assert figures["replays: sessions ever allowed"] == Ratio(1, 1)


def test_head_turn_sessions_are_written_from_turning_people_replays_and_flat_pictures(
        tmp_path: Path) -> None:
    root = tmp_path / "luyt"
    photo = require_testdata() / "faces" / "obama_3.jpg"
    (root / "enroll" / "luyt").mkdir(parents=True)
    (root / "enroll" / "luyt" / "0000.jpg").write_bytes(photo.read_bytes())
    _write(root / "genuine" / "luyt.1", 4)  # one of the labelled head-turn videos
    _write(root / "genuine" / "luyt.2", 4)  # not known to turn: not a head-turn session
    _write(root / "attack" / "luyt.screen_replay-1", 2)
    _write(root / "attack" / "luyt.print-1", 2)  # a print held still: not asked here
    lines = write_headturn_sessions(root)
    made = sorted(p.name for p in (root / "headturn").iterdir())
    flats = [f"luyt.{name}-{k}" for name in FLAT_NAMES.values() for k in (1, 2)]
    assert made == sorted(["luyt.1", "luyt.screen_replay-1", *flats])
    assert len(lines) == len(made)
    assert (root / "headturn" / "luyt.1" / "0003.jpg").samefile(
        root / "genuine" / "luyt.1" / "0003.jpg")
    turned = sorted((root / "headturn" / "luyt.flat_turned-1").iterdir())
    assert len(turned) % HOLD == 0
    assert turned[0].read_bytes() != turned[len(turned) // 2].read_bytes()  # the picture moved
    write_headturn_sessions(root)  # rewritten, not added to
    assert sorted(p.name for p in (root / "headturn").iterdir()) == made
