"""`vigil bench sessions` without models: the figures on hand-made decisions, the sessions it
makes from a set, the frames a client picks, and the policy knobs of --compare."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import cast

import numpy as np
import pytest

from processors.decide.policy_file import PolicyError
from processors.vision import registry as vision_registry
from processors.vision.results import AnalyzedFace, FrameFaces, PhoneBox, PhoneDetections
from schemas.events import Action, Reason
from vigil.apps.bench.accuracy import dataset as accuracy_dataset
from vigil.apps.bench.accuracy import run as accuracy_run
from vigil.apps.bench.accuracy.alternatives import (
    AlternativeError,
    parse_alternative,
    policy_for,
    settings_for,
)
from vigil.apps.bench.accuracy.metrics import Ratio
from vigil.apps.bench.sessions import metrics
from vigil.apps.bench.sessions.cache import (
    MODEL_SETTINGS,
    NOT_MODEL,
    faces_from_json,
    faces_to_json,
    phones_from_json,
    phones_to_json,
    settings_digest,
)
from vigil.apps.bench.sessions.decide import Step
from vigil.apps.bench.sessions.layout import SessionSetError, load_session_set
from vigil.apps.bench.sessions.scenarios import (
    IMPOSTOR,
    NOBODY,
    SWAP,
    Presented,
    present,
    sent_frames,
)
from vigil.core.settings import Settings, flat_names, load_settings

A, L, S, B = Action.ALLOW, Action.LOCK_SCREEN, Action.SIGN_OUT, Action.BLOCK


def steps(actions: str, reason: Reason = Reason.OK, fps: float = 2.0) -> list[Step]:
    """Steps from letters: a allow, l lock_screen, s sign_out, b block."""
    table = {"a": A, "l": L, "s": S, "b": B}
    return [Step(i / fps, table[c], reason, None, None, None) for i, c in enumerate(actions)]


def session(kind: str, frames: int = 4, swap_at: int | None = None) -> Presented:
    return Presented(kind, "set", "x", "set/x", tuple(Path(f"{i}.jpg") for i in range(frames)),
                     swap_at)


def test_interruptions_skip_the_hold_at_the_start_unless_it_signs_out() -> None:
    assert metrics.interruptions(steps("llaaa")) == 0
    assert metrics.interruptions(steps("llaalaala")) == 2
    assert metrics.interruptions(steps("ssbbb")) == 1  # signed out from the start: one run
    assert metrics.interruptions(steps("lsaal")) == 2


def test_genuine_figures_carry_their_counts() -> None:
    runs = [(session("genuine"), steps("llaa")), (session("genuine"), steps("lsll"))]
    figures = metrics.genuine(runs, fps=2.0)
    assert figures["genuine sessions signed out"] == Ratio(1, 2)
    assert figures["genuine sessions locked after allow"] == Ratio(0, 2)
    assert figures["genuine time allowed"] == Ratio(2, 8)
    first = figures["seconds to first allow (median / p95)"]
    assert isinstance(first, metrics.Seconds) and first.values == (1.0,) and first.of == 2
    per_hour = figures["interruptions per genuine session-hour"]
    assert per_hour == metrics.PerHour(1, 8 / 2 / 3600)


def test_phones_are_counted_per_whole_5_second_window() -> None:
    # At 2 fps a window is 10 frames; a 25-frame session has two whole ones (the tail of 5
    # is left out). A phone sign-out in the second window only; a lock for another reason
    # in the first is no phone.
    caught = steps("a" * 10 + "aaas" + "a" * 11, Reason.PHONE)
    other = steps("l" + "a" * 24, Reason.NO_FACE)
    tail_only = steps("a" * 20 + "aaass", Reason.PHONE)
    figures = metrics.phone([(session("phone"), caught), (session("phone"), other),
                             (session("phone"), tail_only)], fps=2.0)
    assert figures["phone 5-s windows caught"] == Ratio(1, 6)
    genuine = metrics.genuine([(session("genuine"), caught)], fps=2.0)
    assert genuine["genuine 5-s windows with a phone (false phones)"] == Ratio(1, 2)


def test_attack_allowed_while_a_spoof_is_debounced_counts_as_allowed() -> None:
    runs = [(session("attack"), steps("alss", Reason.SPOOF)),
            (session("attack"), steps("llss", Reason.SPOOF))]
    figures = metrics.attack(runs, fps=2.0)
    assert figures["attack sessions ever allowed"] == Ratio(1, 2)
    assert figures["attack frames allowed"] == Ratio(1, 8)


def test_a_swap_is_missed_when_wrong_user_comes_after_the_window() -> None:
    def swapped(after: str) -> list[Step]:
        before = steps("aaaa")
        rest = [Step((4 + i) / 2, s.action, Reason.WRONG_USER, None, None, None)
                for i, s in enumerate(steps(after))]
        return before + rest

    runs = [(session(SWAP, 10, 4), swapped("alllll")),  # caught 0.5 s after the swap
            (session(SWAP, 10, 4), swapped("aaaaaa")),  # never caught
            (session(SWAP, 10, 4), swapped("aaaaal"))]  # caught 2.5 s after: outside 2 s
    figures = metrics.swap(runs, fps=2.0, window_s=2.0)
    assert figures["swaps missed (no wrong_user within 2 s)"] == Ratio(2, 3)
    caught = figures["seconds from swap to wrong_user (median / p95)"]
    assert isinstance(caught, metrics.Seconds) and caught.values == (0.5, 2.5)
    assert figures["frames allowed after the swap"] == Ratio(1 + 6 + 5, 18)


def test_a_client_at_2_fps_sends_every_other_and_a_half_frame_of_a_5_fps_capture() -> None:
    frames = tuple(Path(f"{i:04d}.jpg") for i in range(10))
    assert [p.stem for p in sent_frames(frames, 5.0, 2.0)] == ["0000", "0003", "0005", "0008"]
    assert sent_frames(frames, None, 2.0) == frames
    assert sent_frames(frames, 1.0, 2.0) == frames


def _write(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    for i in range(count):
        (folder / f"{i:04d}.jpg").write_bytes(b"x")


def test_impostors_and_swaps_pair_people_across_sets(tmp_path: Path) -> None:
    for set_name, people in (("one", ("ann", "bob")), ("two", ("cy",))):
        for person in people:
            _write(tmp_path / set_name / "enroll" / person, 1)
            _write(tmp_path / set_name / "genuine" / f"{person}.1", 3)
    _write(tmp_path / "one" / "attack" / "ann.print-1", 2)
    _write(tmp_path / "two" / "attack" / "dee.print-1", 2)  # dee is not enrolled
    _write(tmp_path / "two" / "phone" / "eve.1", 2)  # nor is eve: run against nobody
    sets = [load_session_set(tmp_path / "one"), load_session_set(tmp_path / "two")]
    enrolled = ["one/ann", "one/bob", "two/cy"]
    shown = present(sets, enrolled)
    kinds = [s.kind for s in shown.sessions]
    assert kinds.count("genuine") == 3 and kinds.count("attack") == 1
    phone = next(s for s in shown.sessions if s.kind == "phone")
    assert phone.enrolled == NOBODY and phone.name == "two/eve.1"
    assert kinds.count(IMPOSTOR) == 3 * 2 and kinds.count(SWAP) == 3 * 2
    assert [s.name for s in shown.not_enrolled] == ["two/dee.print-1"]
    swap = next(s for s in shown.sessions if s.name == "one/ann.1>two/cy.1")
    assert swap.enrolled == "one/ann" and swap.swap_at == 3 and len(swap.frames) == 6
    assert swap.set_name == "one"
    bounded = present(sets, enrolled, pair_limit=2, seed=1)
    assert [s.kind for s in bounded.sessions].count(IMPOSTOR) == 2
    assert bounded.sessions == present(sets, enrolled, pair_limit=2, seed=1).sessions


def test_a_set_without_sessions_is_refused(tmp_path: Path) -> None:
    _write(tmp_path / "empty" / "enroll" / "ann", 1)
    with pytest.raises(SessionSetError, match="no session"):
        load_session_set(tmp_path / "empty")
    with pytest.raises(SessionSetError, match="no session set"):
        load_session_set(tmp_path / "absent")


def test_policy_knobs_change_the_policy_file_as_the_decide_stage_reads_it() -> None:
    settings = load_settings()
    knobs = parse_alternative("temporal.min_live_frames=5,debounce.spoof=3")
    policy = policy_for(settings_for(settings, knobs), knobs)
    assert policy.temporal.min_live_frames == 5 and policy.debounce[Reason.SPOOF] == 3
    lower = parse_alternative("liveness_threshold=0.4")
    base = policy_for(settings_for(settings, lower), lower)
    assert base.liveness_threshold == 0.4 and base.version != policy.version
    with pytest.raises(PolicyError, match=r"temporal\.min_live_frame"):
        bad = parse_alternative("temporal.min_live_frame=5")
        policy_for(settings, bad)
    with pytest.raises(AlternativeError, match="no setting"):
        parse_alternative("liveness_treshold=0.4")


def test_the_output_cache_keys_change_with_what_the_models_compute_only() -> None:
    base = load_settings()

    def digests(**changed: object) -> tuple[str, str]:
        settings = base.replace(**changed)
        return settings_digest(settings, "face"), settings_digest(settings, "phone")

    face, phone = digests()
    assert digests(liveness_threshold=0.2, verify_threshold=0.8) == (face, phone)
    assert digests(policy_file=Path("elsewhere.yaml")) == (face, phone)
    other_liveness = digests(liveness_model="celebaspoof_openvino")
    assert other_liveness[0] != face and other_liveness[1] == phone
    lower_phone = digests(phone_threshold=0.1)  # the detector reports boxes down to it
    assert lower_phone[0] == face and lower_phone[1] != phone
    precision = digests(openvino_precision="f32" if base.models.openvino_precision == "bf16"
                        else "bf16")  # both halves run on OpenVINO
    assert precision[0] != face and precision[1] != phone


def test_every_setting_the_models_read_is_in_the_cache_key_or_said_not_to_matter() -> None:
    """A setting read by a plug-in but missing from MODEL_SETTINGS would serve stale outputs."""
    read: set[str] = set()
    sources = [*Path(vision_registry.__file__).parent.glob("*.py"),
               Path(accuracy_run.__file__), Path(accuracy_dataset.__file__)]
    flat_of = {place: name for name, place in flat_names().items()}  # (area, field) -> flat
    for source in sources:
        text = source.read_text()
        for area, field in re.findall(r"\bsettings\.([a-z_]+)\.([a-z_][a-z0-9_]*)", text):
            read.add(flat_of.get((area, field), f"{area}.{field}"))
        read |= {name for name in re.findall(r"\bsettings\.([a-z_][a-z0-9_]*)\b(?!\.)", text)
                 if name not in Settings.model_fields}
    keyed = {name for names in MODEL_SETTINGS.values() for name in names}
    assert read - keyed - NOT_MODEL == set()
    assert set(vision_registry.REGISTRY) <= keyed  # the plug-in of each role, by name
    assert read & keyed  # the scan found the plug-ins' settings at all


def np32(value: float) -> float:
    """A numpy float32, typed as the float the results declare (what plug-ins hand back)."""
    return cast(float, np.float32(value))


def test_outputs_with_numpy_numbers_are_stored_as_plain_json() -> None:
    faces = FrameFaces((AnalyzedFace((np32(1), 2.0, 30.0, 40.0), np32(0.9),
                                     ((np32(5), 6.0),), np.ones(4, np.float32),
                                     np32(0.75), True),))
    phones = PhoneDetections((PhoneBox((np32(1), 2.0, 3.0, 4.0), np32(0.5)),),
                             cast(bool, np.bool_(True)))
    face_back = faces_from_json(json.loads(json.dumps(faces_to_json(faces))), 0.8)
    phone_back = phones_from_json(json.loads(json.dumps(phones_to_json(phones))))
    assert face_back.faces[0].liveness == 0.75 and not face_back.faces[0].live  # at 0.8
    assert face_back.faces[0].embedding.tolist() == [1.0] * 4
    assert phone_back.phones[0].confidence == 0.5 and phone_back.phone
