"""A decision's evidence, and a case exported as one zip file.

A case holds the decision, its evidence (JPEG and metadata, decrypted), the exact audit lines
of that client around the decision and of every access to the evidence, and the result of
verifying the whole chain at export time. Each exported audit line keeps its ``hash``, so
anyone holding the full log can find it in the chain.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from console.audit_view import AuditLine, case_lines
from console.timeline import MAX_BARS, TimelineQuery, build_timeline, timeline_json
from console.timeline_svg import timeline_svg
from schemas.events import Action, Decision, now_ms
from sinks.audit_log import AuditError
from sinks.audit_verify import verify_anchored
from sinks.evidence_store import (
    EvidenceError,
    EvidenceItem,
    day_of,
    evidence_path,
    evidence_root,
    read_evidence,
)
from vigil.core.settings import Settings
from vigil.core.utc import format_utc

README = """Vigil case export

decision.json       the decision, as on the decisions topic and in the audit log
evidence.jpg        the frame the decision was made on (absent when none was kept)
evidence.json       the evidence metadata: frame headers, note, when it was stored
audit-lines.jsonl   the audit log's lines about this client from {start} to {end} (UTC),
                    and every record of someone viewing or exporting this evidence, byte
                    for byte; each keeps its seq, prev and hash
verification.json   the result of verifying the whole audit chain when this was exported
timeline.svg        the decisions of the decision's session, in order, coloured per action,
                    with the liveness, match distance and phone scores under them (this
                    decision outlined; at most {bars} bars: beyond, each bar is a span of time)
timeline.json       the data of that chart: per bar its audit lines, times, actions, reasons,
                    score ranges and challenges

To check a line against a later copy of the log: the line with the same seq must be
byte-identical, and `vigil audit verify --file LOG` must pass on that log.
"""


@dataclass(frozen=True)
class Evidence:
    """A decision's evidence, or why there is none to show."""

    item: EvidenceItem | None
    why_none: str = ""


def evidence_of(settings: Settings, decision: Decision) -> Evidence:
    """Decrypt the evidence kept for a decision (on the server; the key never leaves it)."""
    if decision.action is Action.ALLOW:
        return Evidence(None, "allow decisions keep no evidence")
    try:
        path = evidence_path(evidence_root(settings), decision.client_id,
                             day_of(decision.decided_at), decision.frame_id)
        if not path.is_file():
            return Evidence(None, f"no evidence file: purged after "
                            f"{settings.sinks.evidence_retention_days} days, or not written yet")
        return Evidence(read_evidence(settings, path))
    except EvidenceError as exc:
        return Evidence(None, f"evidence unreadable: {exc}")


def _verification(settings: Settings, log_path: Path, use_kafka: bool) -> dict[str, object]:
    """The anchored check of the whole log (chain, signed checkpoints, committed offsets)."""
    try:
        result = verify_anchored(settings, log_path, use_kafka)
    except AuditError as exc:
        return {"ok": False, "reason": str(exc), "verified_at": now_ms()}
    chain = result.chain
    return {"ok": result.ok, "lines": chain.lines, "bad_line": chain.bad_line,
            "reason": result.problem, "last_good_checkpoint": (
                result.last_good.describe() if result.last_good else None),
            "kafka_checked": result.kafka_checked, "notes": list(result.notes),
            "log": str(log_path), "verified_at": now_ms()}


def case_name(decision: Decision) -> str:
    return f"case-{decision.client_id}-{decision.frame_id}.zip"


def build_case(settings: Settings, log_path: Path, decision: Decision,
               window_ms: int, line_seq: int | None = None, use_kafka: bool = True) -> bytes:
    """The zip of one case (see the module docstring and README inside); ``line_seq``, the
    decision's line in the log, is outlined on the timeline; ``use_kafka``: the verification
    checks the checkpoints and commits on Kafka too."""
    start, end = decision.decided_at - window_ms, decision.decided_at + window_ms
    lines: list[AuditLine] = case_lines(log_path, decision, start, end)
    evidence = evidence_of(settings, decision)
    meta: dict[str, object] = {"why_none": evidence.why_none}
    if evidence.item is not None:
        item = evidence.item
        meta = {"frame": item.frame.model_dump(mode="json") if item.frame else None,
                "note": item.note, "stored_at": item.stored_at,
                "jpeg_bytes": len(item.jpeg or b"")}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as case:
        case.writestr("README.txt", README.format(start=format_utc(start), end=format_utc(end),
                                                  bars=MAX_BARS))
        case.writestr("decision.json", json.dumps(decision.model_dump(mode="json"), indent=2,
                                                  sort_keys=True))
        case.writestr("evidence.json", json.dumps(meta, indent=2, sort_keys=True))
        if evidence.item is not None and evidence.item.jpeg:
            case.writestr("evidence.jpg", evidence.item.jpeg)
        case.writestr("audit-lines.jsonl", b"".join(line.raw for line in lines))
        verification = _verification(settings, log_path, use_kafka)
        case.writestr("verification.json", json.dumps(verification, indent=2))
        timeline = build_timeline(log_path,
                                  TimelineQuery(decision.client_id, decision.session_id))
        if timeline is not None:  # None only for a line asked for that is not there
            case.writestr("timeline.svg", timeline_svg(timeline, None, line_seq))
            case.writestr("timeline.json", json.dumps(timeline_json(timeline), indent=2))
    return buffer.getvalue()
