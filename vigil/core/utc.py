"""Times as people type and read them: ISO 8601 in UTC, or epoch milliseconds."""

from __future__ import annotations

import datetime as dt

from vigil.core.errors import VigilError


class TimeFormatError(VigilError, ValueError):
    """A time that is neither ISO 8601 nor epoch milliseconds."""


def parse_utc(text: str) -> int:
    """Epoch ms of ``2026-11-24T10:00``, ``2026-11-24 10:00:05Z``, ``2026-11-24`` or a number
    of epoch milliseconds. A time without an offset is UTC."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise TimeFormatError(f"time {text!r}: expected ISO 8601 such as 2026-11-24T10:00:00Z "
                              "(UTC when no offset is given) or epoch milliseconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def format_utc(epoch_ms: int | None) -> str:
    """``2026-11-24 10:00:05.123Z``, or ``-`` when there is no time."""
    if epoch_ms is None:
        return "-"
    moment = dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"
