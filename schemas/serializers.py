"""One serializer per topic: validates on the way in and out, one domain error on bad bytes."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import ValidationError

from schemas.events import Event, FrameHeaders

E = TypeVar("E", bound=Event)

JPEG_MAGIC = b"\xff\xd8\xff"
_VERSION = re.compile(r"[0-9]{1,9}")
KafkaHeaders = Sequence[tuple[str, bytes | str | None]] | Mapping[str, bytes | str | None]


class ContractError(ValueError):
    """Bytes or headers that do not match a topic's contract.

    Not a ``VigilError``: schemas/ is the floor everything stands on and imports nothing of
    Vigil, so the `vigil` command maps this error itself (vigil/apps/cli.py)."""


@dataclass(frozen=True)
class JsonSerializer(Generic[E]):
    """UTF-8 JSON for one event model."""

    model: type[E]

    def dumps(self, event: E) -> bytes:
        if not isinstance(event, self.model):
            raise ContractError(f"expected {self.model.__name__}, got {type(event).__name__}")
        return event.model_dump_json().encode()

    def loads(self, data: bytes | None) -> E:
        if not data:
            raise ContractError(f"empty {self.model.__name__} message")
        try:
            return self.model.model_validate_json(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "message"
            raise ContractError(f"bad {self.model.__name__}: {where}: {first['msg']}") from None


@dataclass(frozen=True)
class Frame:
    """A frame as it travels on the ``frames`` topic: JPEG bytes plus typed headers."""

    headers: FrameHeaders
    jpeg: bytes


class FrameSerializer:
    """The ``frames`` topic: the value is the JPEG, the metadata are Kafka headers."""

    def dumps(self, frame: Frame) -> tuple[bytes, list[tuple[str, bytes]]]:
        check_jpeg(frame.jpeg)
        headers = [
            (name, str(value).encode())
            for name, value in frame.headers.model_dump(mode="json").items()
        ]
        return frame.jpeg, headers

    def loads(self, value: bytes | None, headers: KafkaHeaders | None) -> Frame:
        parsed = self.headers_from_kafka(headers)
        check_jpeg(value)
        assert value is not None
        return Frame(parsed, value)

    @staticmethod
    def headers_from_kafka(headers: KafkaHeaders | None) -> FrameHeaders:
        raw: dict[str, str] = {}
        pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
        for name, value in pairs:
            if isinstance(value, bytes):
                try:
                    raw[name] = value.decode()
                except UnicodeDecodeError:
                    raise ContractError(f"frame header {name!r} is not UTF-8") from None
            elif value is not None:
                raw[name] = value
        known = set(FrameHeaders.model_fields)
        fields: dict[str, object] = {k: v for k, v in raw.items() if k in known}
        version = raw.get("schema_version", "")
        # A Literal[1] field takes no string, even "1". str.isdigit() is also true for "²",
        # which int() refuses: only ASCII digits, and few of them, are a version number.
        if _VERSION.fullmatch(version):
            fields["schema_version"] = int(version)
        try:
            return FrameHeaders.model_validate(fields)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ContractError(f"bad frame headers: {where}: {first['msg']}") from None


def check_jpeg(data: bytes | None) -> None:
    """Raise ContractError unless the bytes start like a JPEG (full decoding is the models')."""
    if not data:
        raise ContractError("empty frame")
    if not data.startswith(JPEG_MAGIC):
        raise ContractError("frame is not a JPEG (bad magic bytes)")


def header_value(headers: Iterable[tuple[str, bytes | str | None]] | None, name: str) -> str | None:
    """The value of one Kafka header as text, or None."""
    for key, value in headers or ():
        if key == name:
            return value.decode(errors="replace") if isinstance(value, bytes) else value
    return None
