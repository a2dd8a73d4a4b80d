"""The policy file: defaults, versioning, errors naming the key, reload without a restart."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from processors.decide.policy_file import (
    DEFAULT_POLICY_FILE,
    PolicyError,
    PolicyReloader,
    load_policy,
    parse_policy,
    policy_path,
)
from schemas.events import Action, Reason
from tests.decide.harness import REPO, worker_env
from vigil.core.settings import Settings, load_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(state_dir=tmp_path / "state")


def test_shipped_policy_has_the_seed_defaults(settings: Settings) -> None:
    assert policy_path(settings) == DEFAULT_POLICY_FILE
    policy = load_policy(DEFAULT_POLICY_FILE, settings)
    assert policy.version.startswith("2@") and len(policy.version) == len("2@") + 8
    assert (policy.liveness_threshold, policy.verify_threshold, policy.phone_threshold) == (
        settings.models.liveness_threshold,
        settings.models.verify,
        settings.models.phone_threshold,
    )
    assert policy.actions == {
        Reason.NO_FACE: Action.LOCK_SCREEN, Reason.SPOOF: Action.SIGN_OUT,
        Reason.WRONG_USER: Action.LOCK_SCREEN, Reason.PHONE: Action.SIGN_OUT,
        Reason.MULTIPLE_FACES: Action.LOCK_SCREEN, Reason.INCOMPLETE: Action.LOCK_SCREEN,
        Reason.BAD_FRAME: Action.LOCK_SCREEN, Reason.STALE: Action.LOCK_SCREEN,
        Reason.POOR_QUALITY: Action.LOCK_SCREEN, Reason.VERIFYING: Action.LOCK_SCREEN,
        Reason.CHALLENGE_TIMEOUT: Action.LOCK_SCREEN}
    # A spoof needs evidence in a window, or geometry, instead of two frames in a row.
    assert {r for r, n in policy.debounce.items() if n != 1} == set()
    assert (policy.grades.window, policy.grades.spoof_frames) == (6, 3)
    assert 0 < policy.grades.certain_below < policy.grades.spoof_below < policy.liveness_threshold
    assert policy.quality.min_face_side > 0 and policy.quality.min_sharpness > 0
    # A face filling the picture is "move back" (docs/accuracy.md, faces too close).
    assert policy.quality.max_face_fill == 0.9
    assert not (policy.challenges.on_doubt or policy.challenges.at_start
                or policy.challenges.every_s)  # shipped off: docs/challenges.md
    assert (policy.temporal.min_live_frames, policy.temporal.window) == (3, 3)
    assert (policy.escalation.sign_outs, policy.escalation.window_s) == (3, 600)


def test_file_thresholds_win_and_the_hash_follows_the_resolved_policy(
    settings: Settings, tmp_path: Path
) -> None:
    text = "version: 7\nthresholds: {liveness: 0.8}\ndebounce: {spoof: 3}\n"
    policy = parse_policy(text, settings)
    assert policy.version.startswith("7@")
    assert policy.liveness_threshold == 0.8
    assert policy.verify_threshold == settings.models.verify
    assert policy.debounce[Reason.SPOOF] == 3 and policy.debounce[Reason.PHONE] == 1
    assert parse_policy(text, settings).version == policy.version  # stable
    # Same file, another threshold setting: another hash, same declared version.
    other = parse_policy(text, load_settings(state_dir=tmp_path, verify_threshold=0.9))
    assert other.version.startswith("7@") and other.version != policy.version


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("thresholds: {}\n", "version"),
        ("version: '1'\nactions: {spooof: sign_out}\n", "actions.spooof"),
        ("version: '1'\nactions: {spoof: explode}\n", "actions.spoof"),
        ("version: '1'\ndebounce: {phone: 0}\n", "debounce.phone"),
        ("version: '1'\nthresholds: {liveness: 1.5}\n", "thresholds.liveness"),
        ("version: '1'\nescalation: {window_s: -1}\n", "escalation.window_s"),
        ("version: '1'\nquality: {max_face_fill: 0}\n", "quality.max_face_fill"),
        ("version: '1'\nextra: 1\n", "extra"),
        ("version: [1\n", "not valid YAML"),
        ("- just a list\n", "mapping"),
    ],
)
def test_a_bad_policy_names_the_key(settings: Settings, text: str, named: str) -> None:
    with pytest.raises(PolicyError, match=r"policy file p\.yaml") as info:
        parse_policy(text, settings, "p.yaml")
    assert named in str(info.value)


def test_a_missing_file_is_a_clear_error(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        PolicyReloader(tmp_path / "nope.yaml", settings)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_reload_picks_up_an_edit_and_keeps_the_last_good_policy(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("version: a\n")
    clock = Clock()
    reloader = PolicyReloader(path, settings, check_interval_s=1.0, clock=clock)
    first = reloader.current()
    assert first.version.startswith("a@")

    path.write_text("version: b\nactions: {no_face: sign_out}\n")
    clock.now = 0.5
    assert reloader.current() is first  # not checked again before the interval
    clock.now = 1.0
    second = reloader.current()
    assert second.version.startswith("b@") and second.actions[Reason.NO_FACE] is Action.SIGN_OUT

    with caplog.at_level(logging.ERROR, logger="processors.decide.policy_file"):
        path.write_text("version: c\ndebounce: {spoof: -2}\n")
        clock.now = 2.0
        assert reloader.current() is second
        clock.now = 3.0
        assert reloader.current() is second
    errors = [r for r in caplog.records if "policy reload failed" in r.getMessage()]
    assert len(errors) == 1 and "debounce.spoof" in errors[0].getMessage()  # logged once

    path.write_text("version: d\n")
    clock.now = 4.0
    assert reloader.current().version.startswith("d@")


def test_worker_refuses_to_start_with_a_bad_policy(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("version: '1'\nactions: {phone: maybe}\n")
    bad = load_settings(state_dir=tmp_path / "state", policy_file=path)
    proc = subprocess.run([sys.executable, "-m", "vigil.apps.cli", "process", "decide",
                           "--metrics-port=0"], cwd=REPO,
                          env=worker_env(bad), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "actions.phone" in proc.stderr and str(path) in proc.stderr
