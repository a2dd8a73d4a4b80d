"""The rates of `vigil bench accuracy`, each with the counts behind it.

Every verdict comes from the decide stage's pure function
:func:`processors.decide.policy.evaluate`, so later policy rules count here automatically.

- ISO/IEC 30107-3, at the policy's thresholds: APCER = attack frames decided ``ok`` (the
  attack passed) over attack frames; BPCER = bona fide frames decided ``spoof`` over bona fide
  frames. Other outcomes (``no_face``, ``phone``, ...) are neither and show in the reason table.
- The same over a sweep of the liveness threshold (the policy with only that threshold
  changed): APCER at the highest threshold whose BPCER <= 2%, BPCER at the lowest threshold
  whose APCER <= 10%.
- Verification over ``identities/`` pairs, each picture enrolled in turn and the other
  presented, liveness and phones set aside (thresholds 0 and infinity): FMR = impostor pairs
  not decided ``wrong_user``, FNMR = genuine pairs decided ``wrong_user``. And over a sweep
  of the distance threshold: FNMR at the most lenient threshold with FMR <= 0.1% and <= 1%
  (vigil/apps/bench/identity_metrics.py), with a DET plot of its own.
- Phones: recall = ``phone/`` frames with a phone at the policy's threshold, false phone rate
  = ``no_phone/`` frames with one; and recall at the lowest threshold with <= 2% false phones.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from processors.decide.graded import QualityGate
from processors.decide.policy import Policy, evaluate
from processors.verdict import main_face
from schemas.events import Reason
from vigil.apps.bench.accuracy.run import AlternativeRun, FrameOutcome, face_result_against
from vigil.apps.bench.identity_metrics import PairDistances, pair_distances

BPCER_TARGET = 0.02
APCER_TARGET = 0.10
FALSE_PHONE_TARGET = 0.02


@dataclass(frozen=True)
class Ratio:
    """``count`` of ``total``; printed as a percentage with both counts."""

    count: int
    total: int

    @property
    def value(self) -> float | None:
        return self.count / self.total if self.total else None

    def __str__(self) -> str:
        if not self.total:
            return "- (0/0)"
        return f"{100 * self.count / self.total:.1f}% ({self.count}/{self.total})"


@dataclass(frozen=True)
class AtThreshold:
    """A rate read off a sweep, and the threshold where it was read (None: not reached)."""

    ratio: Ratio | None
    threshold: float | None

    def __str__(self) -> str:
        if self.ratio is None or self.threshold is None:
            return "not reached"
        return f"{self.ratio} @ {self.threshold:.3f}"


@dataclass(frozen=True)
class SweepPoint:
    """APCER and BPCER with the liveness threshold at ``threshold``."""

    threshold: float
    apcer: Ratio
    bpcer: Ratio


def reason_of(outcome: FrameOutcome, policy: Policy) -> Reason:
    """The decide policy's reason for one frame."""
    return evaluate(outcome.face, outcome.phone, policy).reason


def pad_rates(attacks: Sequence[FrameOutcome], bona_fide: Sequence[FrameOutcome],
              policy: Policy) -> tuple[Ratio, Ratio]:
    """(APCER, BPCER) under ``policy``."""
    passed = sum(reason_of(o, policy) is Reason.OK for o in attacks)
    refused = sum(reason_of(o, policy) is Reason.SPOOF for o in bona_fide)
    return Ratio(passed, len(attacks)), Ratio(refused, len(bona_fide))


def _candidates(values: Iterable[float]) -> list[float]:
    """0, every value and just above every value: each distinct operating point, at both of
    its ends (so "highest" and "lowest" thresholds are read where they really are)."""
    distinct = set(values) | {0.0}
    return sorted(distinct | {v + 1e-6 for v in distinct})


def liveness_sweep(attacks: Sequence[FrameOutcome], bona_fide: Sequence[FrameOutcome],
                   policy: Policy) -> list[SweepPoint]:
    """APCER and BPCER at every distinct liveness threshold of these frames.

    The threshold reaches a frame's reason only through ``score >= threshold`` (the main
    face's liveness, graded.py), so each frame has one reason at or under its score and one
    over it: two evaluations a frame, not one per threshold (thousands of frames stay fast).
    """
    attack_scores, attack_hi, attack_lo = _two_reasons(attacks, policy, Reason.OK)
    genuine_scores, genuine_hi, genuine_lo = _two_reasons(bona_fide, policy, Reason.SPOOF)
    scores = [float(s) for s in (*attack_scores, *genuine_scores) if not math.isnan(s)]
    points = []
    for threshold in _candidates(scores):
        passed = int(np.where(attack_scores >= threshold, attack_hi, attack_lo).sum())
        refused = int(np.where(genuine_scores >= threshold, genuine_hi, genuine_lo).sum())
        points.append(SweepPoint(threshold, Ratio(passed, len(attacks)),
                                 Ratio(refused, len(bona_fide))))
    return points


def _two_reasons(outcomes: Sequence[FrameOutcome], policy: Policy, counted: Reason
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: the main face's liveness (NaN without one), and whether the reason is
    ``counted`` with the threshold at or under that score, and over it."""
    scores = np.full(len(outcomes), np.nan)
    for i, outcome in enumerate(outcomes):
        main = main_face(outcome.face.faces)
        if main is not None and main.liveness is not None:
            scores[i] = main.liveness
    live, unlive = replace(policy, liveness_threshold=0.0), replace(
        policy, liveness_threshold=math.inf)
    hi = np.array([reason_of(o, live) is counted for o in outcomes], dtype=bool)
    lo = np.array([reason_of(o, unlive) is counted for o in outcomes], dtype=bool)
    return scores, hi, lo


def best_within(points: Sequence[SweepPoint], limited: Callable[[SweepPoint], Ratio],
                limit: float, read: Callable[[SweepPoint], Ratio],
                highest: bool) -> AtThreshold:
    """``read`` at the highest (or lowest) threshold whose ``limited`` rate is <= ``limit``."""
    within = [p for p in points if (limited(p).value or 0.0) <= limit]
    if not within or not points[0].apcer.total or not points[0].bpcer.total:
        return AtThreshold(None, None)
    chosen = max(within, key=lambda p: p.threshold) if highest else min(
        within, key=lambda p: p.threshold)
    return AtThreshold(read(chosen), chosen.threshold)


def apcer_at_bpcer(points: Sequence[SweepPoint]) -> AtThreshold:
    """APCER at the most secure threshold that keeps BPCER <= 2%."""
    return best_within(points, lambda p: p.bpcer, BPCER_TARGET, lambda p: p.apcer, True)


def bpcer_at_apcer(points: Sequence[SweepPoint]) -> AtThreshold:
    """BPCER at the most lenient threshold that keeps APCER <= 10%."""
    return best_within(points, lambda p: p.apcer, APCER_TARGET, lambda p: p.bpcer, False)


def verification(run: AlternativeRun, identities: dict[str, list[int]],
                 policy: Policy) -> tuple[Ratio, Ratio, int]:
    """(FMR, FNMR, pictures without a face) over every pair of identity pictures."""
    owner = {index: name for name, indices in identities.items() for index in indices}
    with_face = [i for i in sorted(owner) if run.outcomes[i].found.faces]
    # Identity alone: no liveness threshold, no phone or screen (the policy checks them
    # first) and no quality gate (a poor picture would hide the identity verdict).
    identity_only = replace(policy, liveness_threshold=0.0, phone_threshold=math.inf,
                            screen_threshold=None, quality=QualityGate())
    impostor = genuine = false_match = false_non_match = 0
    for enrolled, presented in itertools.combinations(with_face, 2):
        embedding = run.outcomes[enrolled].found.faces[0].embedding[None, :]
        shown = run.outcomes[presented]
        face = face_result_against(run.pipeline, shown, embedding)
        matched = evaluate(face, shown.phone, identity_only).reason is not Reason.WRONG_USER
        if owner[enrolled] == owner[presented]:
            genuine += 1
            false_non_match += not matched
        else:
            impostor += 1
            false_match += matched
    return (Ratio(false_match, impostor), Ratio(false_non_match, genuine),
            len(owner) - len(with_face))


def identity_pairs(run: AlternativeRun, identities: dict[str, list[int]]) -> PairDistances:
    """Distances of every pair of identity pictures with a face (their largest faces), for
    the FMR/FNMR sweep (vigil/apps/bench/identity_metrics.py)."""
    owner = {index: name for name, indices in identities.items() for index in indices}
    with_face = [i for i in sorted(owner) if run.outcomes[i].found.faces]
    if not with_face:
        return PairDistances(np.zeros(0), np.zeros(0))
    vectors = np.stack([run.outcomes[i].found.faces[0].embedding for i in with_face])
    return pair_distances(vectors, [owner[i] for i in with_face])


def best_phone(outcome: FrameOutcome) -> float:
    """The highest phone confidence in the frame (0 when none was reported)."""
    return max((p.confidence for p in outcome.phone.phones if p.is_phone), default=0.0)


def phone_rates(phones: Sequence[FrameOutcome], no_phones: Sequence[FrameOutcome],
                threshold: float) -> tuple[Ratio, Ratio]:
    """(recall, false phone rate) with phones counted from ``threshold`` up."""
    found = sum(best_phone(o) >= threshold for o in phones)
    false = sum(best_phone(o) >= threshold for o in no_phones)
    return Ratio(found, len(phones)), Ratio(false, len(no_phones))


def phone_recall_within(phones: Sequence[FrameOutcome],
                        no_phones: Sequence[FrameOutcome]) -> AtThreshold:
    """Recall at the lowest phone threshold (a reported score, or just above one) whose false
    phone rate is <= 2%."""
    if not phones or not no_phones:
        return AtThreshold(None, None)
    # Only reported scores are candidates: a detector reports nothing under its floor (0.1),
    # so a lower threshold would only read "anything reported".
    reported = {best_phone(o) for o in (*phones, *no_phones)} - {0.0}
    for threshold in sorted(reported | {v + 1e-6 for v in reported}):
        recall, false = phone_rates(phones, no_phones, threshold)
        if (false.value or 0.0) <= FALSE_PHONE_TARGET:
            return AtThreshold(recall, threshold)
    return AtThreshold(None, None)


def reasons(outcomes: Iterable[FrameOutcome], policy: Policy) -> Counter[str]:
    """How many frames the policy decided with each reason."""
    return Counter(reason_of(o, policy).value for o in outcomes)
