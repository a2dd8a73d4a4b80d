"""The ``challenges:`` section of the policy file: when to ask a step-up challenge, and what
passes (processors/decide/challenge.py applies it; docs/challenges.md explains each knob).

Every knob lives in the policy file, so it reloads without a restart. Left out, the section
asks nothing: challenges are off until the file turns a trigger on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.events import Action, ChallengeKind

# The doubt band's defaults, relative to the liveness threshold in force: a score this far
# below it is doubtful rather than a clear spoof, this far above it doubtful rather than live.
DOUBT_BELOW = 0.2
DOUBT_ABOVE = 0.1


@dataclass(frozen=True)
class TurnRule:
    """What counts as a head turn, in the units of processors/decide/head_pose.py."""

    threshold: float = 0.15  # nose shift across the eye-mouth square towards the asked side
    return_within: float = 0.08  # back: the nose within this of where it started
    flat_aspect_drop: float = 0.08  # the face foreshortened by this share ...
    flat_nose_tolerance: float = 0.05  # ... while the nose stayed within this: a flat picture
    flat_frames: int = 2  # frames showing it before the challenge fails
    frontal_within: float = 0.15  # a turn starts from facing the camera: nose this near 0.5


@dataclass(frozen=True)
class ChallengePolicy:
    """The resolved ``challenges:`` section (defaults: nothing asked)."""

    on_doubt: bool = False
    doubt_low: float = 0.3
    doubt_high: float = 0.6
    at_start: bool = False
    at_start_clients: tuple[str, ...] = ()
    every_s: float | None = None
    max_per_hour: int = 6
    min_gap_s: float = 20.0
    deadline_s: float = 10.0
    kinds: tuple[ChallengeKind, ...] = (ChallengeKind.TURN_LEFT, ChallengeKind.TURN_RIGHT)
    hold_action: Action = Action.LOCK_SCREEN
    trust_s: float = 120.0
    retry_failed: int = 0  # failed challenges held and asked again before one is a spoof
    on_flat: bool = False
    flat_motion: float = 0.12
    flat_residual: float = 0.05
    flat_pairs: int = 2
    turn: TurnRule = field(default_factory=TurnRule)

    def doubtful(self, liveness: float | None) -> bool:
        """A liveness score inside the doubt band."""
        return liveness is not None and self.doubt_low <= liveness < self.doubt_high

    def asks_at_start(self, client_id: str) -> bool:
        return self.at_start or client_id in self.at_start_clients

    def flat_scene(self, motion: float, residual: float) -> bool | None:
        """A frame's scene measure (FaceResult.scene): True when the face moved and its
        surroundings moved with it (a flat picture), False when it moved against them, None
        when it hardly moved (nothing to tell)."""
        if motion < self.flat_motion:
            return None
        return residual <= self.flat_residual


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TurnSpec(_Spec):
    threshold: float = Field(
        default=0.15, gt=0.0, le=1.0, description="Nose shift across the eye-mouth square, "
        "towards the asked side, that counts as a turn.")
    return_within: float = Field(
        default=0.08, gt=0.0, le=1.0, description="The turn is done when the nose is back "
        "within this of where it started.")
    flat_aspect_drop: float = Field(
        default=0.08, gt=0.0, lt=1.0, description="Foreshortening (drop of eye distance over "
        "eye-mouth height) that, with the nose unmoved, shows a flat picture turned.")
    flat_nose_tolerance: float = Field(
        default=0.05, gt=0.0, le=1.0, description="Largest nose move counted as unmoved in "
        "that test.")
    flat_frames: int = Field(
        default=2, ge=1, le=100, description="Frames showing a flat picture turned before the "
        "challenge fails.")
    frontal_within: float = Field(
        default=0.15, gt=0.0, le=0.5, description="A turn is measured from a frame facing the "
        "camera: the nose within this of the square's middle.")


class ChallengesSpec(_Spec):
    """The ``challenges:`` section as written in the policy file."""

    on_doubt: bool = Field(
        default=False, description="Challenge when the main face's liveness lies in the doubt "
        "band.")
    doubt_low: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Lower end of the doubt band; default the "
        "liveness threshold minus 0.2.")
    doubt_high: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Upper end (exclusive); default the liveness "
        "threshold plus 0.1.")
    at_start: bool | list[str] = Field(
        default=False, description="Challenge at each session's start: true for every client, "
        "or a list of client ids.")
    every_s: float | None = Field(
        default=None, gt=0.0, description="Also challenge at random intervals of this mean "
        "length (seconds); none: never.")
    max_per_hour: int = Field(
        default=6, ge=0, le=3600, description="Most challenges per client in any hour; a "
        "trigger over it asks nothing.")
    min_gap_s: float = Field(
        default=20.0, ge=0.0, description="Least time from one challenge's end to the next "
        "one's start.")
    deadline_s: float = Field(default=10.0, gt=0.0, le=120.0, description="Time to answer.")
    kinds: list[ChallengeKind] = Field(
        default_factory=lambda: [ChallengeKind.TURN_LEFT, ChallengeKind.TURN_RIGHT],
        min_length=1, description="Challenges to draw from.")
    hold_action: Action = Field(
        default=Action.LOCK_SCREEN, description="Action of a frame that would be allowed, or is "
        "a doubtful spoof, while a challenge runs.")
    trust_s: float = Field(
        default=120.0, ge=0.0, description="After a pass, doubtful frames are allowed for this "
        "long.")
    retry_failed: int = Field(
        default=0, ge=0, le=3, description="A challenge that fails (a flat picture turned, "
        "another person back) is held (hold_action, reason spoof) and asked again at once, "
        "this many times in a row, before a failure takes spoof's action: the face detector's "
        "noise can fail a real face once. A retry left unanswered is a failure; a pass clears "
        "the count.")
    on_flat: bool = Field(
        default=False, description="Challenge when the face moved with the scene around it "
        "(FaceResult.scene, processors/scene_motion.py) on flat_pairs moving frames in a row: "
        "a picture held to the camera. Left unanswered, it is owed, as at sign-in.")
    flat_motion: float = Field(
        default=0.12, gt=0.0, le=5.0, description="A frame counts for on_flat only when the "
        "face's landmarks moved at least this far (face sizes) since the client's last frame.")
    flat_residual: float = Field(
        default=0.05, gt=0.0, le=5.0, description="Such a frame is flat when the landmarks "
        "lie within this (face sizes) of where the surrounding scene's motion carries them; "
        "farther, it moved against the room, and the run restarts.")
    flat_pairs: int = Field(
        default=2, ge=1, le=100, description="Flat moving frames in a row (still frames do "
        "not break the run) that ask the challenge.")
    turn: TurnSpec = Field(default_factory=TurnSpec)

    @model_validator(mode="after")
    def _band_in_order(self) -> ChallengesSpec:
        if (self.doubt_low is not None and self.doubt_high is not None
                and self.doubt_low >= self.doubt_high):
            raise ValueError(f"doubt_low {self.doubt_low} must be below doubt_high "
                             f"{self.doubt_high}")
        return self

    def resolve(self, liveness_threshold: float) -> ChallengePolicy:
        """The policy with the doubt band's defaults filled in from the liveness threshold."""
        low = (max(0.0, liveness_threshold - DOUBT_BELOW) if self.doubt_low is None
               else self.doubt_low)
        high = (min(1.0, liveness_threshold + DOUBT_ABOVE) if self.doubt_high is None
                else self.doubt_high)
        if low >= high:
            raise ValueError(f"doubt band [{low}, {high}) is empty")
        start = self.at_start
        return ChallengePolicy(
            on_doubt=self.on_doubt, doubt_low=low, doubt_high=high,
            at_start=start is True, at_start_clients=tuple(start) if isinstance(start, list)
            else (), every_s=self.every_s, max_per_hour=self.max_per_hour,
            min_gap_s=self.min_gap_s, deadline_s=self.deadline_s, kinds=tuple(self.kinds),
            hold_action=self.hold_action, trust_s=self.trust_s,
            retry_failed=self.retry_failed, on_flat=self.on_flat, flat_motion=self.flat_motion,
            flat_residual=self.flat_residual, flat_pairs=self.flat_pairs,
            turn=TurnRule(**self.turn.model_dump()))
