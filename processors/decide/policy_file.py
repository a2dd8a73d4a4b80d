"""The policy file: YAML parsing, validation, versioning, and reloading without a restart.

The file (``settings.policy_file``, default ``processors/decide/policy.yaml``) holds::

    version: "1"                 # required, names this edition of the policy
    thresholds: {liveness: 0.5, verify: 1.1, phone: 0.3}   # each optional: settings' value
                                 # and replay_overlap: 0.6 (share of the face in a phone box)
    actions:    {no_face: lock_screen, spoof: sign_out, ...} # per reason except ok
    debounce:   {spoof: 2, ...}  # consecutive frames before acting, per reason (default 1)
    escalation: {sign_outs: 3, window_s: 600}
    temporal:   {min_live_frames: 2, window: 3, rolling_liveness: 0.5, hold_action: lock_screen}
    quality:    {min_brightness: 40, max_brightness: 230, max_overexposed: 0.3,
                 min_sharpness: 10, min_face_side: 60,
                 max_face_fill: 0.9}                            # graded.py; each off if absent
    liveness:   {spoof_below: 0.1, certain_below: 0.01, window: 6, spoof_frames: 3, grace: true}
    phone_window: {window: 10, frames: 3, threshold: 0.15, without_face: true}
    identity:   {window: 5, per_person: true, hold_mismatch: true}   # identity.py
    challenges: {on_doubt: true, at_start: [...], every_s: 600, ...}  # challenge_policy.py

The version in each Decision is ``"{version}@{hash}"``: the file's ``version`` and the first 8
hex digits of the SHA-256 of the resolved policy (thresholds filled in from the settings), so a
change of the file or of a threshold setting shows even when nobody bumped ``version``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import reprlib
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from processors.decide.challenge_policy import ChallengePolicy, ChallengesSpec
from processors.decide.graded import LivenessGrades, PhoneWindow, QualityGate
from processors.decide.identity import IdentityPolicy
from processors.decide.policy import Escalation, Policy
from processors.decide.temporal import TemporalPolicy
from schemas.events import Action, Reason
from vigil.core.errors import VigilError
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_POLICY_FILE = Path(__file__).with_name("policy.yaml")
# YAML aliases make a small file a huge value: an error message shows only its start.
_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxstring = 2, 4, 4, 80


class PolicyError(VigilError, ValueError):
    """A policy file that cannot be used; the message names the file and the key."""

    exit_code = 2


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ThresholdsSpec(_Spec):
    liveness: float | None = Field(default=None, ge=0.0, le=1.0)
    verify: float | None = Field(default=None, gt=0.0, le=4.0)
    phone: float | None = Field(default=None, ge=0.0, le=1.0)
    replay_overlap: float = Field(
        default=0.6, gt=0.0, le=1.0, description="Share of the main face's box inside a "
        "detected phone's box from which the face counts as a replay on that device (spoof).")
    screen: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Smallest confidence of a detected screen "
        "(COCO tv or laptop) whose box, holding the face, makes a replay; absent: screens "
        "are not looked at.")


class ActionsSpec(_Spec):
    no_face: Action = Action.LOCK_SCREEN
    spoof: Action = Action.SIGN_OUT
    wrong_user: Action = Action.LOCK_SCREEN
    phone: Action = Action.SIGN_OUT
    multiple_faces: Action = Action.LOCK_SCREEN
    incomplete: Action = Action.LOCK_SCREEN
    bad_frame: Action = Action.LOCK_SCREEN
    stale: Action = Action.LOCK_SCREEN
    poor_quality: Action = Action.LOCK_SCREEN
    verifying: Action = Action.LOCK_SCREEN
    challenge_timeout: Action = Action.LOCK_SCREEN


class DebounceSpec(_Spec):
    no_face: int = Field(default=1, ge=1, le=1000)
    spoof: int = Field(default=1, ge=1, le=1000)
    wrong_user: int = Field(default=1, ge=1, le=1000)
    phone: int = Field(default=1, ge=1, le=1000)
    multiple_faces: int = Field(default=1, ge=1, le=1000)
    incomplete: int = Field(default=1, ge=1, le=1000)
    bad_frame: int = Field(default=1, ge=1, le=1000)
    stale: int = Field(default=1, ge=1, le=1000)
    poor_quality: int = Field(default=1, ge=1, le=1000)
    verifying: int = Field(default=1, ge=1, le=1000)
    challenge_timeout: int = Field(default=1, ge=1, le=1000)


class QualitySpec(_Spec):
    """The quality gate before liveness (graded.py); a limit left out lets every face by."""

    min_brightness: float = Field(default=0.0, ge=0.0, le=255.0, description="Darkest mean "
                                  "grey level of the face box judged (under: dark).")
    max_brightness: float = Field(default=255.0, ge=0.0, le=255.0, description="Brightest "
                                  "mean grey level of the face box judged (over: bright).")
    max_overexposed: float = Field(default=1.0, ge=0.0, le=1.0, description="Largest share "
                                   "of the face box burnt out (grey >= 250) judged.")
    min_sharpness: float = Field(default=0.0, ge=0.0, le=100_000.0, description="Smallest "
                                 "variance of the Laplacian of the face at 160x160 judged "
                                 "(under: blurred).")
    min_face_side: float = Field(default=0.0, ge=0.0, le=4000.0, description="Smallest "
                                 "face box side in frame pixels judged (under: small).")
    max_face_fill: float | None = Field(default=None, gt=0.0, le=10.0, description="Largest "
                                        "share of the picture's width or height the face box "
                                        "may span and be judged (over: large, 'move back': "
                                        "the liveness crops have no context around the face);"
                                        " absent: off.")


class LivenessSpec(_Spec):
    """How a score under the liveness threshold is graded (graded.py)."""

    spoof_below: float | None = Field(default=None, ge=0.0, le=1.0, description="Scores "
                                      "under this are spoof evidence; between it and the "
                                      "liveness threshold, verifying. Absent: the threshold.")
    certain_below: float = Field(default=0.0, ge=0.0, le=1.0, description="One frame under "
                                 "this is a spoof on its own (0: never).")
    window: int = Field(default=1, ge=1, le=1000, description="The client's last scored "
                        "frames the spoof evidence is counted over.")
    spoof_frames: int = Field(default=1, ge=1, le=1000, description="Spoof-evidence frames "
                              "in the window that make a spoof.")
    grace: bool = Field(default=False, description="One doubtful (verifying) frame right "
                        "after an ok one stays allowed when its face, alone, is the enrolled "
                        "person's by its own distance; two in a row lock.")

    @model_validator(mode="after")
    def _frames_fit_the_window(self) -> LivenessSpec:
        if self.spoof_frames > self.window:
            raise ValueError(f"spoof_frames {self.spoof_frames} > window {self.window}")
        return self


class PhoneWindowSpec(_Spec):
    """A phone seen repeatedly at a lower confidence is a phone in use (graded.py)."""

    window: int = Field(default=1, ge=1, le=1000, description="The client's last frames "
                        "looked at (1: off).")
    frames: int = Field(default=1, ge=1, le=1000, description="Frames of the window with a "
                        "phone at `threshold` that make a phone in use.")
    threshold: float | None = Field(default=None, ge=0.0, le=1.0, description="Smallest "
                                    "phone confidence counted as a sighting; absent: the "
                                    "phone threshold.")
    without_face: bool = Field(default=False, description="A phone counts in a frame where "
                               "no face is found (a head bent over a phone): phone, not "
                               "no_face.")

    @model_validator(mode="after")
    def _frames_fit_the_window(self) -> PhoneWindowSpec:
        if self.frames > self.window:
            raise ValueError(f"frames {self.frames} > window {self.window}")
        return self


class EscalationSpec(_Spec):
    sign_outs: int = Field(default=3, ge=1, le=1000)
    window_s: float = Field(default=600.0, gt=0.0, le=30 * 86400)


class TemporalSpec(_Spec):
    """Evidence over a session before ``allow`` (processors/decide/temporal.py)."""

    min_live_frames: int = Field(
        default=0, ge=0, le=1000, description="Frames with a live main face needed after a "
        "session starts, and after any spoof frame, before a frame may be allowed (0: off).")
    window: int = Field(
        default=1, ge=1, le=100, description="Frames of the session in the rolling liveness "
        "mean (1: off).")
    rolling_liveness: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Smallest rolling liveness mean that may be "
        "allowed; default: the liveness threshold.")
    hold_action: Action = Field(
        default=Action.LOCK_SCREEN, description="Action of a frame that would be allowed but "
        "whose session has not shown enough live evidence yet.")


class IdentitySpec(_Spec):
    """Identity evidence over a session's frames (processors/decide/identity.py)."""

    window: int = Field(
        default=1, ge=1, le=100, description="Identity frames of the session whose median "
        "distance decides wrong_user (1: each frame alone).")
    per_person: bool = Field(
        default=True, description="Judge a client by the threshold set at its enrollment "
        "(when the face stage sends one) instead of thresholds.verify.")
    hold_mismatch: bool = Field(
        default=False, description="Never allow a frame whose own distance is over the "
        "threshold: held as verifying while the window's median still says owner (so a "
        "person swapped in is not allowed for a frame before the median turns).")


class PolicySpec(_Spec):
    version: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
    thresholds: ThresholdsSpec = Field(default_factory=ThresholdsSpec)
    actions: ActionsSpec = Field(default_factory=ActionsSpec)
    debounce: DebounceSpec = Field(default_factory=DebounceSpec)
    escalation: EscalationSpec = Field(default_factory=EscalationSpec)
    temporal: TemporalSpec = Field(default_factory=TemporalSpec)
    quality: QualitySpec = Field(default_factory=QualitySpec)
    liveness: LivenessSpec = Field(default_factory=LivenessSpec)
    phone_window: PhoneWindowSpec = Field(default_factory=PhoneWindowSpec)
    identity: IdentitySpec = Field(default_factory=IdentitySpec)
    challenges: ChallengesSpec = Field(default_factory=ChallengesSpec)

    @field_validator("version", mode="before")
    @classmethod
    def _number_is_text(cls, value: object) -> object:
        # `version: 2` in YAML is an int; accept it as the text "2".
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return value


def _version_hash(policy: Policy) -> str:
    resolved = asdict(policy)
    resolved.pop("version")
    canonical = json.dumps(resolved, sort_keys=True, default=str).encode()
    return hashlib.sha256(canonical).hexdigest()[:8]


def _challenges(spec: PolicySpec, liveness: float, source: str) -> ChallengePolicy:
    try:
        return spec.challenges.resolve(liveness)
    except ValueError as exc:
        raise PolicyError(f"policy file {source}: challenges: {exc}") from None


def parse_policy(text: str, settings: Settings, source: str = "<policy>") -> Policy:
    """Validate policy YAML and resolve it against the settings' thresholds.

    Raises PolicyError naming ``source`` and the first bad key.
    """
    try:
        raw: Any = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        # ValueError: an integer over 4300 digits; RecursionError: nesting too deep.
        raise PolicyError(f"policy file {source}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise PolicyError(f"policy file {source}: expected a mapping with at least `version`")
    try:
        spec = PolicySpec.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "policy"
        raise PolicyError(
            f"policy file {source}: {key}={_SHORT.repr(first.get('input'))}: {first['msg']}"
        ) from None
    t = spec.thresholds
    liveness = settings.models.liveness_threshold if t.liveness is None else t.liveness
    temporal = spec.temporal
    policy = Policy(
        version=spec.version,
        liveness_threshold=liveness,
        verify_threshold=settings.models.verify if t.verify is None else t.verify,
        phone_threshold=settings.models.phone_threshold if t.phone is None else t.phone,
        actions={Reason(k): Action(v) for k, v in spec.actions.model_dump().items()},
        debounce={Reason(k): int(v) for k, v in spec.debounce.model_dump().items()},
        escalation=Escalation(spec.escalation.sign_outs, spec.escalation.window_s),
        replay_overlap=t.replay_overlap,
        temporal=TemporalPolicy(
            temporal.min_live_frames, temporal.window,
            liveness if temporal.rolling_liveness is None else temporal.rolling_liveness,
            temporal.hold_action),
        screen_threshold=t.screen,
        quality=QualityGate(**spec.quality.model_dump()),
        grades=LivenessGrades(**spec.liveness.model_dump()),
        phone_window=PhoneWindow(**spec.phone_window.model_dump()),
        identity=IdentityPolicy(spec.identity.window, spec.identity.per_person,
                                spec.identity.hold_mismatch),
        challenges=_challenges(spec, liveness, source),
    )
    label = f"{spec.version}@{_version_hash(policy)}"
    return Policy(**{**policy.__dict__, "version": label})


def load_policy(path: Path, settings: Settings) -> Policy:
    """Read and parse a policy file; PolicyError if it is missing or bad."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"policy file {path}: cannot read: {exc.strerror}") from None
    return parse_policy(text, settings, str(path))


class PolicyReloader:
    """The current policy, re-read when the file's mtime or size changes.

    The stat is done at most once per ``check_interval_s``, so calling ``current()`` per
    event is cheap. A bad file at construction raises PolicyError (a clear startup error); a
    bad file on reload is logged once and the previous policy stays in force.
    """

    def __init__(
        self,
        path: Path,
        settings: Settings,
        check_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._settings = settings
        self._interval = check_interval_s
        self._clock = clock
        self._stamp = self._stat()
        self._policy = load_policy(path, settings)
        self._checked = clock()
        log.info("policy loaded path=%s version=%s", path, self._policy.version)

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def current(self) -> Policy:
        """The policy in force, after a reload if the file changed since the last check."""
        now = self._clock()
        if now - self._checked < self._interval:
            return self._policy
        self._checked = now
        stamp = self._stat()
        if stamp == self._stamp:
            return self._policy
        self._stamp = stamp  # a bad edit is reported once, not every second
        try:
            policy = load_policy(self.path, self._settings)
        except PolicyError as exc:
            log.error("policy reload failed, keeping version=%s: %s", self._policy.version, exc)
            return self._policy
        if policy.version != self._policy.version:
            log.info("policy reloaded path=%s version=%s previous=%s", self.path,
                     policy.version, self._policy.version)
        self._policy = policy
        return policy


def policy_path(settings: Settings) -> Path:
    """The policy file the settings name, or the one shipped with the stage."""
    return (
        settings.decide.policy_file
        if settings.decide.policy_file is not None
        else DEFAULT_POLICY_FILE
    )
