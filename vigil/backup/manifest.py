"""What a backup archive holds, and how its integrity is checked.

An archive is a tar whose members all live under ``vigil-backup/``::

    users.sqlite3 | users.pgdump     the user database (SQLite file or pg_dump custom format)
    audit/audit.log                  the hash-chained audit log, complete lines only
    evidence/{client}/{day}/{frame}.vgev   the encrypted evidence items, as stored
    config/policy.yaml               the decision policy in use
    config/settings.toml             the settings file in use, if any (secret_key removed)
    config/weights-manifest.toml     the model weights manifest
    key/secret.key                   the data key, only with --include-key
    MANIFEST.json                    last: this manifest

The manifest lists every other member with its sha256 and size, and is sealed with an
HMAC-SHA256 under the data key, so a member and its manifest line cannot be changed together
by anyone without the key. The key itself is identified by a fingerprint (an HMAC of a fixed
text under it), never stored unless asked for.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from vigil.core.errors import VigilError

FORMAT = "vigil-backup/1"
ROOT = "vigil-backup"
MANIFEST_MEMBER = "MANIFEST.json"
USERS_SQLITE = "users.sqlite3"
USERS_PGDUMP = "users.pgdump"
AUDIT_LOG = "audit/audit.log"
AUDIT_CHECKPOINT = "audit/audit.log.checkpoint"  # the log's anchor (sinks/audit_anchor.py)
EVIDENCE = "evidence"
POLICY = "config/policy.yaml"
SETTINGS_FILE = "config/settings.toml"
WEIGHTS_MANIFEST = "config/weights-manifest.toml"
KEY = "key/secret.key"

_MEMBER = re.compile(r"^(users\.sqlite3|users\.pgdump|audit/audit\.log|"
                     r"audit/audit\.log\.checkpoint|config/policy\.yaml|"
                     r"config/settings\.toml|config/weights-manifest\.toml|key/secret\.key|"
                     r"evidence/[A-Za-z0-9][A-Za-z0-9._-]*/\d{4}-\d\d-\d\d/"
                     r"[A-Za-z0-9][A-Za-z0-9._-]*\.vgev)$")


class BackupError(VigilError):
    """A backup or restore that cannot go on; the message says why and what to do."""


class Member(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=0)


class Manifest(BaseModel):
    """The last member of an archive; see the module docstring."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["vigil-backup/1"] = "vigil-backup/1"
    created_at: int = Field(description="epoch ms when the backup began")
    namespace: str
    user_db_engine: Literal["sqlite", "postgresql"]
    user_db_schema_version: int
    clients: int
    key_fingerprint: str
    key_included: bool
    audit_lines: int
    audit_problem: str = Field(default="", description="why the audit log did not verify, if so")
    evidence_items: int
    evidence_vanished: int = Field(default=0, description="items purged while the backup ran")
    members: dict[str, Member]
    seal: str = Field(default="", description="HMAC-SHA256 under the data key of the rest")


def is_member_name(name: str) -> bool:
    """Whether ``name`` (without the root folder) is one a Vigil archive may hold."""
    return bool(_MEMBER.fullmatch(name)) and ".." not in name.split("/")


def key_fingerprint(key: bytes) -> str:
    """Names a data key without revealing it."""
    return hmac.new(key, b"vigil-key-fingerprint/v1", hashlib.sha256).hexdigest()[:16]


def _seal_of(manifest: Manifest, key: bytes) -> str:
    fields = manifest.model_copy(update={"seal": ""}).model_dump(mode="json")
    body = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, b"vigil-backup-manifest/v1\x00" + body, hashlib.sha256).hexdigest()


def sealed(manifest: Manifest, key: bytes) -> Manifest:
    return manifest.model_copy(update={"seal": _seal_of(manifest, key)})


def seal_matches(manifest: Manifest, key: bytes) -> bool:
    return hmac.compare_digest(manifest.seal, _seal_of(manifest, key))
