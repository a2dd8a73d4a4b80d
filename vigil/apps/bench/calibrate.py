"""`vigil bench calibrate DIR`: fit each liveness model's calibration on the development frame
sets, measure how to combine the models, and write the calibration file.

Honest figures: every rate is measured on sets the calibration was not fitted on (leave one
set out: each set is scored by a calibration fitted on the other sets of the pool; a set is
one source, mostly one person and one device). The calibration written at the end is fitted
on every set of the pool. Sets of face crops (``*-crops``) are not webcam frames: they are
reported apart, and join the fitting pool only with ``--pool all``.

Per alternative and threshold: BPCER (genuine frames scored under the threshold) and APCER
per attack kind (attack frames at or over it), counts beside every rate; frames without a
face count in neither.
"""

from __future__ import annotations

import argparse
import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from processors.vision.calibration import (
    Fusion,
    Platt,
    family,
    fit_fusion,
    fit_platt,
)
from vigil.apps.bench.liveness_scores import MODELS, Scorer, SetScores, score_set

Floats = npt.NDArray[np.float64]
THRESHOLDS = (0.1, 0.3, 0.5, 0.7, 0.9)
# Attack kind of a set, from the suffix devdata gives its name.
KINDS = {"phone": "phone replay", "screen": "screen replay", "zalo": "video replay",
         "mixed": "print or display", "crops": "replay (crops)"}


def kind_of(set_name: str) -> str:
    """The attack kind of a frame set, by its name's suffix."""
    return KINDS.get(set_name.rsplit("-", 1)[-1], set_name.rsplit("-", 1)[-1])


@dataclass
class Fitted:
    """One fold's calibration: a Platt map per model family and the fusion."""

    platt: dict[str, Platt]
    fusion: Fusion


def _usable(s: SetScores) -> npt.NDArray[np.bool_]:
    """Frames of the picture as it is (no variant) with a face and every model's score."""
    ok = s.found & np.array([v == "" for v in s.variant])
    for m in MODELS:
        ok &= ~np.isnan(s.raw[m])
    return ok


def fit(sets: Sequence[SetScores]) -> Fitted:
    """Platt per model and the logistic fusion, on the usable frames of ``sets``."""
    live = np.concatenate([s.live[_usable(s)] for s in sets])
    raw = {m: np.concatenate([s.raw[m][_usable(s)] for s in sets]) for m in MODELS}
    platt = {family(m): fit_platt(raw[m], live) for m in MODELS}
    calibrated = {family(m): platt[family(m)].apply(raw[m]) for m in MODELS}
    return Fitted(platt, fit_fusion(calibrated, live))


Rule = Callable[[dict[str, Floats], Fitted], Floats]


def _calibrated(raw: dict[str, Floats], f: Fitted) -> dict[str, Floats]:
    return {family(m): f.platt[family(m)].apply(raw[m]) for m in MODELS}


MINI, CELEBA = MODELS
ALTERNATIVES: dict[str, Rule] = {
    "today: min raw": lambda r, f: np.minimum(r[MINI], r[CELEBA]),
    "minifasnet raw": lambda r, f: r[MINI],
    "celebaspoof raw": lambda r, f: r[CELEBA],
    "minifasnet cal": lambda r, f: _calibrated(r, f)["minifasnet"],
    "celebaspoof cal": lambda r, f: _calibrated(r, f)["celebaspoof"],
    "mean cal": lambda r, f: np.mean(list(_calibrated(r, f).values()), axis=0),
    "min cal": lambda r, f: np.min(list(_calibrated(r, f).values()), axis=0),
    "fusion": lambda r, f: f.fusion.apply(_calibrated(r, f)),
}


def held_out_scores(pool: Sequence[SetScores], others: Sequence[SetScores]
                    ) -> dict[str, dict[str, Floats]]:
    """Per set, per alternative: every frame's score from a fit that did not see the set
    (sets outside the pool are scored by the fit on the whole pool)."""
    whole = fit(pool)
    out: dict[str, dict[str, Floats]] = {}
    for s in (*pool, *others):
        fold = fit([p for p in pool if p.name != s.name]) if s in pool else whole
        out[s.name] = {name: rule(s.raw, fold) for name, rule in ALTERNATIVES.items()}
    return out


def _rate(hits: int, total: int) -> str:
    return f"{100 * hits / total:.1f}% ({hits}/{total})" if total else "n/a"


def rates_table(sets: Sequence[SetScores], scores: dict[str, dict[str, Floats]],
                title: str) -> list[str]:
    """Markdown: per alternative and threshold, BPCER and APCER per attack kind."""
    kinds = sorted({kind_of(s.name) for s in sets if (~s.live & _usable(s)).any()})
    lines = [f"### {title}", "",
             "| alternative | threshold | BPCER (genuine rejected) | "
             + " | ".join(f"APCER {k}" for k in kinds) + " |",
             "|---|---:|---:|" + "---:|" * len(kinds)]
    for name in ALTERNATIVES:
        for threshold in THRESHOLDS:
            genuine = rejected = 0
            attacks = dict.fromkeys(kinds, 0)
            passed = dict.fromkeys(kinds, 0)
            for s in sets:
                use = _usable(s)
                score = scores[s.name][name]
                genuine += int((s.live & use).sum())
                rejected += int((s.live & use & (score < threshold)).sum())
                if (~s.live & use).any():
                    k = kind_of(s.name)
                    attacks[k] += int((~s.live & use).sum())
                    passed[k] += int((~s.live & use & (score >= threshold)).sum())
            cells = " | ".join(_rate(passed[k], attacks[k]) for k in kinds)
            lines.append(f"| {name} | {threshold} | {_rate(rejected, genuine)} | {cells} |")
    return [*lines, ""]


def variants_table(sets: Sequence[SetScores], scores: dict[str, dict[str, Floats]],
                   alternative: str, threshold: float, spoof_below: float) -> list[str]:
    """Markdown: genuine frames made worse, by variant: no face, live, doubtful, spoof."""
    lines = [f"### Genuine frames made worse ({alternative}, live at {threshold}, "
             f"spoof evidence under {spoof_below})", "",
             "| variant | frames | no face | live | verifying | spoof evidence |",
             "|---|---:|---:|---:|---:|---:|"]
    for variant in ("", "dim", "dark", "blurred", "bright"):
        total = noface = live = doubt = spoof = 0
        for s in sets:
            pick = s.live & np.array([v == variant for v in s.variant])
            score = scores[s.name][alternative]
            total += int(pick.sum())
            noface += int((pick & ~s.found).sum())
            seen = pick & s.found
            live += int((seen & (score >= threshold)).sum())
            spoof += int((seen & (score < spoof_below)).sum())
            doubt += int((seen & (score < threshold) & (score >= spoof_below)).sum())
        lines.append(f"| {variant or 'as captured'} | {total} | {_rate(noface, total)} | "
                     f"{_rate(live, total)} | {_rate(doubt, total)} | {_rate(spoof, total)} |")
    return [*lines, ""]


def calibration_text(fitted: Fitted, pool: Sequence[SetScores], command: str) -> str:
    """The calibration file: the numbers, and the sets and counts they were fitted on."""
    use = [(s.name, int((s.live & _usable(s)).sum()), int((~s.live & _usable(s)).sum()))
           for s in pool]
    lines = ["# Liveness calibration (processors/vision/calibration.py): P(live) =",
             "# sigmoid(a * logit(raw) + b) per model family, and the logistic fusion.",
             f"# Fitted by `{command}` on {datetime.date.today().isoformat()}, on the",
             "# development frame sets (live frames, attack frames with a face):"]
    lines += [f"#   {name}: {g} live, {a} attack" for name, g, a in use]
    lines += [f"# In all: {sum(u[1] for u in use)} live, {sum(u[2] for u in use)} attack.", ""]
    for name, platt in fitted.platt.items():
        lines += [f"[models.{name}]", f"a = {platt.a:.6f}", f"b = {platt.b:.6f}", ""]
    f = fitted.fusion
    lines += ["[fusion]", f"members = [{', '.join(repr(m) for m in f.members)}]".replace(
        "'", '"'), f"weights = [{', '.join(f'{w:.6f}' for w in f.weights)}]",
        f"bias = {f.bias:.6f}", ""]
    return "\n".join(lines)


def run_calibrate(args: argparse.Namespace) -> int:
    """Score every set, print the tables, write the calibration file (unless --dry-run)."""
    from vigil.core.settings import load_settings

    settings = load_settings(getattr(args, "config", None))
    scorer = Scorer(settings)
    cache = Path(args.cache) if args.cache else settings.deployment.state_dir / "liveness-scores"
    sets = [score_set(d, scorer, cache) for d in sorted(args.folder.iterdir()) if d.is_dir()]
    frames = [s for s in sets if not s.crops]
    crops = [s for s in sets if s.crops]
    pool = sets if args.pool == "all" else frames
    others = [s for s in sets if s not in pool]
    scores = held_out_scores(pool, others)
    report = [f"Sets in the pool ({args.pool}): {', '.join(s.name for s in pool)}", ""]
    report += rates_table(frames, scores, "Webcam frame sets (each scored by a fit without it)")
    if crops:
        report += rates_table(crops, scores, "Face-crop sets")
    report += variants_table(frames, scores, args.variants_rule, args.threshold,
                             args.spoof_below)
    print("\n".join(report))
    if not args.dry_run:
        command = f"vigil bench calibrate {args.folder} --pool {args.pool}"
        args.out.write_text(calibration_text(fit(pool), pool, command), encoding="utf-8")
        print(f"calibration written to {args.out}")
    return 0
