"""The sinks: evidence, the audit log and replies."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from vigil.core.settings.base import Area


class SinksSettings(Area):
    """The evidence, audit and replies sinks."""

    evidence_retention_days: int = Field(
        30,
        ge=1,
        le=3650,
        description="Days evidence (frame + decision) is kept under STATE_DIR/evidence before "
        "the evidence sink or `vigil evidence purge` deletes it.",
    )
    evidence_purge_interval_s: float = Field(
        3600.0, ge=1.0, le=86400.0, description="How often the evidence sink purges old items."
    )
    frame_fetch_timeout_s: float = Field(
        5.0,
        gt=0,
        le=120.0,
        description="How long the evidence sink waits for one frame fetched from `frames` by "
        "offset before recording the decision alone.",
    )
    audit_log: Path | None = Field(
        None, description="The hash-chained audit log; defaults to STATE_DIR/audit/audit.log."
    )
    audit_signing_key: Path | None = Field(
        None, description="The audit sink's Ed25519 private key (PEM) that signs the log's "
        "checkpoints; made at the sink's first start. Give it to the audit sink alone. "
        "Defaults to STATE_DIR/audit/signing.key."
    )
    audit_verify_key: Path | None = Field(
        None, description="The public key that checks the checkpoints (`vigil audit verify`, "
        "the console). Defaults to STATE_DIR/audit/signing.pub, which the sink writes."
    )
    reply_dedupe_ttl_s: int = Field(
        3600,
        ge=1,
        le=7 * 86400,
        description="How long the replies sink remembers a frame it replied to, so a replayed "
        "decision sends no second reply.",
    )
    held_decisions_ttl_s: int = Field(
        600,
        ge=1,
        le=7 * 86400,
        description="How long a lock, sign-out or block that found the client without a "
        "session waits in Redis for the client's next session (which gets it after welcome).",
    )
    batch_size: int = Field(
        32, ge=1, le=10_000, validation_alias="sink_batch_size",
        description="Messages one sink handles (and commits) per batch."
    )
