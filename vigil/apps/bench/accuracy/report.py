"""The side-by-side table of `vigil bench accuracy`, its reason counts and its DET plot."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from processors.decide.policy import Policy
from processors.verdict import main_face
from vigil.apps.bench.accuracy import metrics
from vigil.apps.bench.accuracy.alternatives import describe
from vigil.apps.bench.accuracy.dataset import LABELS, LabelledSet
from vigil.apps.bench.accuracy.metrics import AtThreshold, Ratio, SweepPoint
from vigil.apps.bench.accuracy.run import AlternativeRun
from vigil.apps.bench.identity_metrics import FMR_TARGETS, PairDistances, fnmr_at_fmr


@dataclass(frozen=True)
class AccuracyReport:
    """Every figure of one alternative (metrics.py defines them)."""

    label: str
    plugins: str
    policy: Policy
    apcer: Ratio
    bpcer: Ratio
    apcer_at_bpcer: AtThreshold
    bpcer_at_apcer: AtThreshold
    sweep: list[SweepPoint]
    faces_found: Ratio
    fmr: Ratio
    fnmr: Ratio
    verify_no_face: int
    identity_pairs: PairDistances  # every identities/ pair's distance, for the FMR sweep
    phone_recall: Ratio
    false_phones: Ratio
    phone_recall_at: AtThreshold
    reasons: dict[str, Counter[str]]
    face_ms: float
    phone_ms: float


def build_report(label: str, run: AlternativeRun, data: LabelledSet,
                 policy: Policy) -> AccuracyReport:
    """Compute every figure of one alternative's run under ``policy``."""
    by_label = {name: [run.outcomes[i] for i in data.labels.get(name, [])] for name in LABELS}
    attacks, bona_fide = by_label["attack"], by_label["bona_fide"]
    apcer, bpcer = metrics.pad_rates(attacks, bona_fide, policy)
    sweep = metrics.liveness_sweep(attacks, bona_fide, policy)
    fmr, fnmr, no_face = metrics.verification(run, data.identities, policy)
    identity_pairs = metrics.identity_pairs(run, data.identities)
    recall, false = metrics.phone_rates(by_label["phone"], by_label["no_phone"],
                                        policy.phone_threshold)
    with_faces = {i for name in ("bona_fide", "attack") for i in data.labels.get(name, [])}
    with_faces |= {i for indices in data.identities.values() for i in indices}
    found = sum(bool(run.outcomes[i].found.faces) for i in with_faces)
    return AccuracyReport(
        label=label, plugins=describe(run.pipeline.settings), policy=policy,
        apcer=apcer, bpcer=bpcer, apcer_at_bpcer=metrics.apcer_at_bpcer(sweep),
        bpcer_at_apcer=metrics.bpcer_at_apcer(sweep), sweep=sweep,
        faces_found=Ratio(found, len(with_faces)), fmr=fmr, fnmr=fnmr, verify_no_face=no_face,
        identity_pairs=identity_pairs,
        phone_recall=recall, false_phones=false,
        phone_recall_at=metrics.phone_recall_within(by_label["phone"], by_label["no_phone"]),
        reasons={name: metrics.reasons(by_label[name], policy) for name in LABELS
                 if by_label[name]},
        face_ms=run.face_ms, phone_ms=run.phone_ms,
    )


def _rows(r: AccuracyReport) -> list[tuple[str, str]]:
    p = r.policy
    return [
        ("thresholds liveness / verify / phone",
         f"{p.liveness_threshold:.3f} / {p.verify_threshold:.2f} / {p.phone_threshold:.2f}"),
        ("APCER: attacks decided ok", str(r.apcer)),
        ("BPCER: bona fide decided spoof", str(r.bpcer)),
        (f"APCER at BPCER<={metrics.BPCER_TARGET:.0%} @ liveness", str(r.apcer_at_bpcer)),
        (f"BPCER at APCER<={metrics.APCER_TARGET:.0%} @ liveness", str(r.bpcer_at_apcer)),
        ("faces found (bona fide+attack+identities)", str(r.faces_found)),
        ("FMR: impostor pairs matched", str(r.fmr)),
        ("FNMR: genuine pairs refused", str(r.fnmr)),
        *((f"FNMR at FMR<={100 * t:g}% @ distance", str(fnmr_at_fmr(r.identity_pairs, t)))
          for t in FMR_TARGETS),
        ("phone recall", str(r.phone_recall)),
        ("false phone rate", str(r.false_phones)),
        (f"phone recall at false<={metrics.FALSE_PHONE_TARGET:.0%} @ phone",
         str(r.phone_recall_at)),
        ("face chain ms/frame", f"{r.face_ms:.1f}"),
        ("phone detector ms/frame", f"{r.phone_ms:.1f}"),
        *((f"reasons in {name}", _reason_cell(r.reasons[name])) for name in LABELS
          if name in r.reasons),
    ]


def _reason_cell(counts: Counter[str]) -> str:
    return " ".join(f"{reason} {n}" for reason, n in sorted(counts.items(), key=lambda kv:
                                                            (-kv[1], kv[0])))


def _column_names(reports: Sequence[AccuracyReport]) -> list[str]:
    return [chr(ord("A") + i) if i < 26 else f"#{i}" for i in range(len(reports))]


def _legend(reports: Sequence[AccuracyReport], data: LabelledSet, header: str) -> list[str]:
    counts = ", ".join(f"{name} {data.count(name)}" for name in LABELS)
    people = sum(len(v) for v in data.identities.values())
    lines = [header, f"pictures: {len(data.pictures)} distinct; {counts}; identities "
             f"{len(data.identities)} people, {people} pictures"]
    lines += [f"{name} = {r.label}: {r.plugins}" for name, r in
              zip(_column_names(reports), reports, strict=True)]
    return lines


def format_table(reports: Sequence[AccuracyReport], data: LabelledSet, header: str) -> str:
    """The figures side by side, one column per alternative (legend first)."""
    keys = [k for k, _ in _rows(reports[0])]
    columns = [[v for _, v in _rows(r)] for r in reports]
    names = _column_names(reports)
    key_width = max(len(k) for k in keys)
    widths = [max(len(n), *(len(v) for v in c)) for n, c in zip(names, columns, strict=True)]
    head = "  ".join([" " * key_width, *(n.ljust(w) for n, w in zip(names, widths,
                                                                    strict=True))])
    lines = [*_legend(reports, data, header), head, "-" * len(head)]
    for row, key in enumerate(keys):
        cells = [c[row].ljust(w) for c, w in zip(columns, widths, strict=True)]
        lines.append("  ".join([key.ljust(key_width), *cells]).rstrip())
    return "\n".join(lines)


def format_markdown(reports: Sequence[AccuracyReport], data: LabelledSet, header: str) -> str:
    """The same table in Markdown (for the README)."""
    keys = [k for k, _ in _rows(reports[0])]
    columns = [[v for _, v in _rows(r)] for r in reports]
    lines = [f"- {line}" for line in _legend(reports, data, header)] + [""]
    lines.append("| | " + " | ".join(_column_names(reports)) + " |")
    lines.append("|---|" + "---|" * len(reports))
    for row, key in enumerate(keys):
        lines.append(f"| {key} | " + " | ".join(c[row] for c in columns) + " |")
    return "\n".join(lines)


def write_scores(reports: Sequence[AccuracyReport], runs: Sequence[AlternativeRun],
                 data: LabelledSet, path: Path) -> Path:
    """One CSV row per picture and alternative: labels, main-face liveness, phone, reason."""
    import csv

    labels = {i: [n for n in LABELS if i in data.labels.get(n, [])] for i in
              range(len(data.pictures))}
    for name, indices in data.identities.items():
        for i in indices:
            labels[i].append(f"identity:{name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["picture", "labels", "alternative", "faces", "liveness", "phone",
                      "reason"])
        for report, run in zip(reports, runs, strict=True):
            for i, outcome in enumerate(run.outcomes):
                main = main_face(outcome.face.faces)
                liveness = "" if main is None or main.liveness is None else f"{main.liveness:.4f}"
                out.writerow([data.pictures[i].relative_to(data.root), " ".join(labels[i]),
                              report.label, len(outcome.face.faces), liveness,
                              f"{metrics.best_phone(outcome):.4f}",
                              metrics.reason_of(outcome, report.policy).value])
    return path


def plot_det(reports: Sequence[AccuracyReport], path: Path, title: str) -> Path:
    """APCER against BPCER over the liveness threshold sweep, one line per alternative."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 6))
    for r in reports:
        xs = [100 * (p.bpcer.value or 0.0) for p in r.sweep]
        ys = [100 * (p.apcer.value or 0.0) for p in r.sweep]
        (line,) = ax.step(xs, ys, where="post", label=r.label)
        if r.bpcer.total and r.apcer.total:
            ax.plot([100 * (r.bpcer.value or 0.0)], [100 * (r.apcer.value or 0.0)], "o",
                    color=line.get_color())
    ax.axvline(100 * metrics.BPCER_TARGET, color="grey", linestyle=":", linewidth=1)
    ax.axhline(100 * metrics.APCER_TARGET, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("BPCER: bona fide decided spoof (%)")
    ax.set_ylabel("APCER: attacks decided ok (%)")
    ax.set_title(title, fontsize=9)
    ax.set_xlim(-2, 102)
    ax.set_ylim(-2, 102)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, title="dot: configured threshold", title_fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
