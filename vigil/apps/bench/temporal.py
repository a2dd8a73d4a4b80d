"""`vigil bench temporal`: what the temporal evidence settings cost and buy, over sessions.

Every session (temporal_sequences.py) is played through the decide stage's own Decider and
policy, frame by frame at ``fps``, once per policy variant: the policy file with its
``temporal`` section and spoof debounce replaced by each grid entry ``MIN/WINDOW/DEBOUNCE``
(min_live_frames / rolling window / spoof debounce). Faces are the enrolled user's and no
phone is in view, so only liveness and the temporal rules decide. Per variant it prints, with
the counts behind every rate:

- added latency to the first allow of a genuine session, in frames and in ms at ``fps``
  (beyond the first frame that passes on its own);
- genuine sessions interrupted (a non-allow after the first allow), signed out, never allowed;
- attack sessions passed (at least one allow), and attack frames allowed.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from processors.decide.decider import Decider
from processors.decide.policy import Policy
from processors.decide.policy_file import load_policy, policy_path
from processors.decide.temporal import TemporalPolicy
from schemas.events import Action, Box, Face, FaceResult, FrameRef, PhoneResult, Reason
from vigil.apps.bench.temporal_sequences import (
    ScoreSequence,
    load_sequences,
    measured_sequences,
    modelled_sequences,
    save_sequences,
)
from vigil.core.settings import Settings

T0 = 1_700_000_000_000
FACE_BOX = Box(x1=220, y1=90, x2=360, y2=280)
DEFAULT_GRID = ("0/1/1", "2/1/1", "3/1/1", "2/3/1", "3/3/1", "3/5/1", "2/3/2", "5/5/1")


@dataclass(frozen=True)
class Variant:
    """One policy variant of the grid."""

    min_live_frames: int
    window: int
    spoof_debounce: int

    @classmethod
    def parse(cls, text: str) -> Variant:
        try:
            live, window, debounce = (int(part) for part in text.split("/"))
        except ValueError:
            raise ValueError(f"grid entry {text!r}: expected MIN/WINDOW/DEBOUNCE, e.g. 3/3/1"
                             ) from None
        if live < 0 or window < 1 or debounce < 1:
            raise ValueError(f"grid entry {text!r}: MIN >= 0, WINDOW >= 1, DEBOUNCE >= 1")
        return cls(live, window, debounce)

    def apply(self, policy: Policy) -> Policy:
        temporal = replace(policy.temporal, min_live_frames=self.min_live_frames,
                           window=self.window)
        debounce = {**policy.debounce, Reason.SPOOF: self.spoof_debounce}
        return replace(policy, temporal=temporal, debounce=debounce)

    def label(self) -> str:
        return f"{self.min_live_frames}/{self.window}/{self.spoof_debounce}"


def variant_of(policy: Policy) -> Variant:
    t: TemporalPolicy = policy.temporal
    return Variant(t.min_live_frames, t.window, policy.frames_needed(Reason.SPOOF))


def play(sequence: ScoreSequence, policy: Policy, fps: float) -> list[Action]:
    """The action of every frame of one session under ``policy``."""
    now = [T0]
    decider = Decider({}, {}, {}, lambda: policy, deadline_ms=3000, clock=lambda: now[0])
    actions = []
    for n, score in enumerate(sequence.liveness):
        received = T0 + int(n * 1000 / fps)
        now[0] = received + 50
        common = dict(frame_id=f"f{n}", client_id="bench", session_id="s1", seq=n + 1,
                      frame=FrameRef(topic="bench.frames", partition=0, offset=n),
                      captured_at=received - 10, received_at=received)
        faces = [] if score is None else [Face(box=FACE_BOX, score=0.99, liveness=score,
                                               distance=0.5)]
        decider.on_result("face", FaceResult(
            **common, processed_at=now[0], faces=faces, live=True, match=True,  # type: ignore[arg-type]
            enrolled=True, device="cpu"), 0)
        outcome = decider.on_result("phone", PhoneResult(
            **common, processed_at=now[0], phone=False, device="cpu"), 0)  # type: ignore[arg-type]
        assert outcome is not None, "both halves are in: the frame is decided"
        actions.append(outcome.decision.action)
    return actions


@dataclass(frozen=True)
class Row:
    """One variant's results (see the module docstring)."""

    variant: Variant
    shipped: bool
    added_frames: list[int]  # per allowed genuine session
    genuine: int
    interrupted: int
    signed_out: int
    never_allowed: int
    attacks: int
    attacks_passed: int
    attack_frames: int
    attack_frames_allowed: int


def evaluate(policy: Policy, variant: Variant, shipped: bool,
             sequences: Sequence[ScoreSequence], fps: float) -> Row:
    added, interrupted, signed_out, never = [], 0, 0, 0
    passed = frames = allowed_frames = 0
    chosen = variant.apply(policy)
    for seq in sequences:
        actions = play(seq, chosen, fps)
        if seq.label == "attack":
            passed += Action.ALLOW in actions
            frames += len(actions)
            allowed_frames += actions.count(Action.ALLOW)
            continue
        signed_out += any(a in (Action.SIGN_OUT, Action.BLOCK) for a in actions)
        if Action.ALLOW not in actions:
            never += 1
            continue
        first = actions.index(Action.ALLOW)
        passing = [n for n, s in enumerate(seq.liveness)
                   if s is not None and s >= policy.liveness_threshold]
        added.append(first - (passing[0] if passing else first))
        interrupted += any(a is not Action.ALLOW for a in actions[first:])
    attacks = sum(1 for s in sequences if s.label == "attack")
    return Row(variant, shipped, added, len(sequences) - attacks, interrupted, signed_out,
               never, attacks, passed, frames, allowed_frames)


def _rate(part: int, whole: int) -> str:
    return f"{part}/{whole}" + (f" ({100 * part / whole:.0f}%)" if whole else "")


def table(rows: Sequence[Row], fps: float, title: str) -> str:
    head = (f"{title}\n| min live / window / spoof debounce | first allow: added frames mean "
            f"/ max (ms at {fps:g} fps) | genuine interrupted | genuine signed out | genuine "
            "never allowed | attacks passed | attack frames allowed |\n|---|---|---|---|---|---|"
            "---|")
    lines = [head]
    for r in rows:
        mean = statistics.fmean(r.added_frames) if r.added_frames else float("nan")
        worst = max(r.added_frames, default=0)
        ms = 1000 / fps
        name = r.variant.label() + (" (policy file)" if r.shipped else "")
        lines.append(
            f"| {name} | {mean:.2f} / {worst} ({mean * ms:.0f} / {worst * ms:.0f} ms) | "
            f"{_rate(r.interrupted, r.genuine)} | {_rate(r.signed_out, r.genuine)} | "
            f"{_rate(r.never_allowed, r.genuine)} | {_rate(r.attacks_passed, r.attacks)} | "
            f"{_rate(r.attack_frames_allowed, r.attack_frames)} |")
    return "\n".join(lines)


@dataclass(frozen=True)
class BenchOptions:
    """What `vigil bench temporal` was asked for (see its --help)."""

    images: Path
    scores: Path | None
    save: Path | None
    frames: int
    fps: float
    grid: tuple[str, ...]
    modelled: int
    attack_pass_rate: float
    genuine_reject_rate: float
    persistence: float


def run_bench_temporal(settings: Settings, options: BenchOptions) -> int:
    """Build or load the sessions, play every grid variant, print the tables."""
    policy = load_policy(policy_path(settings), settings)
    if options.scores is not None:
        measured = load_sequences(options.scores)
    else:
        measured = measured_sequences(settings, options.images, options.frames)
        if options.save is not None:
            save_sequences(options.save, measured)
            print(f"per-frame scores saved to {options.save} (rerun with --scores)")
    shipped = variant_of(policy)
    variants = [shipped] + [v for v in map(Variant.parse, options.grid) if v != shipped]
    threshold = policy.liveness_threshold
    scored = [(s.label, x) for s in measured for x in s.liveness if x is not None]
    passing = [x for label, x in scored if label == "bona_fide" and x >= threshold]
    failing = [x for label, x in scored if x < threshold]
    print(f"policy {policy.version}: liveness threshold {threshold:g}; measured frames: "
          f"{sum(1 for lb, x in scored if lb == 'bona_fide' and x >= threshold)} of "
          f"{sum(1 for lb, _ in scored if lb == 'bona_fide')} genuine and "
          f"{sum(1 for lb, x in scored if lb == 'attack' and x >= threshold)} of "
          f"{sum(1 for lb, _ in scored if lb == 'attack')} attack frames pass one by one "
          f"(faceless frames: {sum(1 for s in measured for x in s.liveness if x is None)})\n")
    rows = [evaluate(policy, v, v == shipped, measured, options.fps) for v in variants]
    print(table(rows, options.fps, f"Measured: {sum(1 for s in measured if s.label == 'bona_fide')}"
                f" genuine and {sum(1 for s in measured if s.label == 'attack')} attack sessions "
                f"of {options.frames} frames (a small set: indicative only)"))
    if options.modelled > 0 and passing and failing:
        modelled = (modelled_sequences("bona_fide", passing, failing,
                                       1 - options.genuine_reject_rate, options.persistence,
                                       options.modelled, options.frames)
                    + modelled_sequences("attack", passing, failing, options.attack_pass_rate,
                                         options.persistence, options.modelled, options.frames))
        rows = [evaluate(policy, v, v == shipped, modelled, options.fps) for v in variants]
        print()
        print(table(rows, options.fps, f"Modelled from the measured scores: {options.modelled} "
                    f"genuine sessions rejected on {options.genuine_reject_rate:.1%} of frames "
                    f"and {options.modelled} attack sessions passing on "
                    f"{options.attack_pass_rate:.0%} of frames, persistence "
                    f"{options.persistence:g}"))
    return 0
