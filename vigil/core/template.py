"""An enrolled template: the embeddings of a client's accepted photos, each photo's quality,
and the client's own distance threshold, serialised into one blob that is encrypted whole.

Blob layout: ``VGT1``, a 4-byte big-endian length, that many bytes of JSON (``dim``,
``threshold``, ``threshold_basis``, ``qualities``, ``embedder``), then the k x dim float32
rows. A blob without the magic is the first format: rows only, 512 wide (FaceNet), no
threshold. Keeping the threshold inside the same ciphertext as the embeddings means it is
protected, erased by `vigil clients forget` and replaced by enrolling again exactly as they
are.

Embeddings belong to the model that made them: ``embedder`` is that plug-in's version
(``name@digest`` of its weight files, as FaceResult.models names it), and the face stage
refuses to compare a frame embedded by another model (:func:`embedder_mismatch`). Templates
written before the tag carry ``""`` and are compared as before (their width is still checked).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

Embeddings = npt.NDArray[np.float32]
MAGIC = b"VGT1"
LEGACY_DIM = 512  # blobs written before templates held only FaceNet's 512-d rows


class TemplateFormatError(ValueError):
    """A decrypted template blob that does not parse."""


@dataclass(frozen=True)
class Template:
    """What enrollment keeps of one client (see the module docstring)."""

    embeddings: Embeddings
    threshold: float | None = None  # the client's own verify threshold; None: the global one
    threshold_basis: str = ""  # how it was chosen, for `vigil clients show`
    qualities: tuple[dict[str, float], ...] = field(default_factory=tuple)  # per embedding
    embedder: str = ""  # version of the embedder that made the rows; "" = not recorded


def same_weights(version: str, other: str) -> bool:
    """Whether two plug-in versions (``name@digest``) ran the same weight files: facenet and
    facenet_openvino load one file, so their embeddings are the same."""
    return version.rpartition("@")[2] == other.rpartition("@")[2]


def embedder_mismatch(template: Template, embedder: str, dim: int) -> str | None:
    """Why frames embedded by ``embedder`` (its version; "" if unknown) into ``dim`` floats
    cannot be compared with this template, or None when they can."""
    if template.embedder and embedder and not same_weights(template.embedder, embedder):
        return (f"enrolled with embedder {template.embedder}, but this face stage runs "
                f"{embedder}: enroll the client again")
    width = template.embeddings.shape[1]
    if width != dim:
        return (f"enrolled embeddings are {width}-d, this face stage's embedder gives "
                f"{dim}-d: enroll the client again")
    return None


def encode_template(template: Template) -> bytes:
    """The plaintext blob of a template (encrypt it before storing)."""
    rows = np.ascontiguousarray(template.embeddings, dtype=np.float32)
    if rows.ndim != 2 or len(rows) == 0 or rows.shape[1] == 0:
        raise ValueError(f"expected (k, dim) embeddings, got {rows.shape}")
    header = json.dumps({"dim": int(rows.shape[1]), "threshold": template.threshold,
                         "threshold_basis": template.threshold_basis,
                         "qualities": list(template.qualities),
                         "embedder": template.embedder}).encode()
    return MAGIC + struct.pack(">I", len(header)) + header + rows.tobytes()


def decode_template(raw: bytes, count: int) -> Template:
    """A template from a decrypted blob holding ``count`` embeddings (either format)."""
    if not raw.startswith(MAGIC):
        return Template(_rows(raw, count, LEGACY_DIM))
    try:
        (length,) = struct.unpack(">I", raw[4:8])
        header: dict[str, Any] = json.loads(raw[8:8 + length])
        dim = int(header["dim"])
        threshold = header.get("threshold")
        return Template(_rows(raw[8 + length:], count, dim),
                        None if threshold is None else float(threshold),
                        str(header.get("threshold_basis", "")),
                        tuple(dict(q) for q in header.get("qualities", ())),
                        str(header.get("embedder", "")))
    except (struct.error, ValueError, KeyError, TypeError) as exc:
        raise TemplateFormatError(f"bad template blob: {exc}") from exc


def _rows(raw: bytes, count: int, dim: int) -> Embeddings:
    if len(raw) != count * dim * 4:
        raise TemplateFormatError(f"{len(raw)} bytes cannot hold {count} x {dim} float32")
    return np.frombuffer(raw, dtype=np.float32).reshape(count, dim).copy()
