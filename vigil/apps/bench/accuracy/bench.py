"""`vigil bench accuracy`: every alternative over one labelled folder, side by side."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch

from processors.vision.device import select_device
from vigil.apps.bench.accuracy.alternatives import (
    Alternative,
    ModelCache,
    parse_alternative,
    policy_for,
    settings_for,
)
from vigil.apps.bench.accuracy.dataset import load_labelled_set, webcam_frames
from vigil.apps.bench.accuracy.report import (
    build_report,
    format_markdown,
    format_table,
    plot_det,
    write_scores,
)
from vigil.apps.bench.accuracy.run import AlternativeRun, run_alternative
from vigil.apps.bench.identity_metrics import plot_det as plot_identity_det
from vigil.core.settings import Settings

log = logging.getLogger(__name__)


def run_accuracy(settings: Settings, folder: Path, compare: Sequence[str], perturb: bool,
                 det_png: Path, markdown: bool = False, scores_csv: Path | None = None) -> str:
    """Run the configured plug-ins and each --compare alternative; the table as text.

    Every alternative sees the same frames and is judged by the policy file the settings name,
    thresholds resolved against the alternative's settings, with its policy knobs replaced.
    Alternatives whose settings are the same (policy knobs only) share one run of the models.
    """
    alternatives = [Alternative("configured"), *(parse_alternative(c) for c in compare)]
    variants = [settings_for(settings, a) for a in alternatives]  # fail before any model loads
    policies = [policy_for(v, a) for v, a in zip(variants, alternatives, strict=True)]
    data = load_labelled_set(folder)
    frames = webcam_frames(data.pictures, settings.models.max_image_pixels, perturb)
    policy = policies[0]
    device = select_device(settings)
    cache = ModelCache(device)
    reports, runs = [], []
    done: dict[str, AlternativeRun] = {}  # settings (as JSON) -> the run of their models
    for alternative, variant, own in zip(alternatives, variants, policies, strict=True):
        key = variant.model_dump_json()
        if key not in done:
            done[key] = run_alternative(cache.pipeline(variant), frames, alternative.label)
        run = done[key]
        runs.append(run)
        reports.append(build_report(alternative.label, run, data, own))
        log.info("accuracy alternative=%s face_ms=%.1f phone_ms=%.1f", alternative.label,
                 run.face_ms, run.phone_ms)
    header = (f"vigil bench accuracy {folder}: frames as a webcam sends them (640x480, JPEG "
              f"q60{', darkened and blurred' if perturb else ''}); policy {policy.version} (of "
              f"the configured alternative); "
              f"device {device.kind}, {torch.get_num_threads()} torch threads")
    plot_det(reports, det_png, f"{folder.name}: liveness threshold sweep"
             f"{' (perturbed)' if perturb else ''}")
    plot_identity_det({r.label: r.identity_pairs for r in reports if len(r.identity_pairs.genuine)},
                      det_png.with_name(f"{det_png.stem}-identity{det_png.suffix}"),
                      f"{folder.name}: identity, FNMR against FMR")
    if scores_csv is not None:
        write_scores(reports, runs, data, scores_csv)
    return (format_markdown if markdown else format_table)(reports, data, header)
