"""`vigil bench e2e --session DIR`: which frames a client streams, and whom the bench enrolls."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.apps.bench.cli import session_frames
from vigil.core.errors import VigilError


def session_set(root: Path, frames: int) -> Path:
    """SET/genuine/ann.1 with ``frames`` frames and SET/enroll/ann with two photos."""
    session = root / "genuine" / "ann.1"
    for folder, count in ((session, frames), (root / "enroll" / "ann", 2)):
        folder.mkdir(parents=True)
        for index in range(count):
            (folder / f"{index:04d}.jpg").write_bytes(b"not read here")
    return session


def test_a_session_is_sent_in_capture_order_at_the_clients_rate(tmp_path: Path) -> None:
    session = session_set(tmp_path, 12)
    frames, enroll = session_frames(session, capture_fps=5, fps=1, enroll_image=None)
    assert [p.name for p in frames] == ["0000.jpg", "0005.jpg", "0010.jpg"]
    assert enroll == tmp_path / "enroll" / "ann" / "0000.jpg"
    every, _ = session_frames(session, capture_fps=None, fps=1, enroll_image=None)
    assert len(every) == 12
    _, given = session_frames(session, 5, 1, enroll_image="me.jpg")
    assert given == Path("me.jpg")


def test_a_session_without_enrollment_photos_needs_one_given(tmp_path: Path) -> None:
    session = session_set(tmp_path, 3)
    for photo in (tmp_path / "enroll" / "ann").iterdir():
        photo.unlink()
    with pytest.raises(VigilError, match="give --enroll-image"):
        session_frames(session, 5, 1, enroll_image=None)
    (tmp_path / "empty").mkdir()
    with pytest.raises(VigilError, match="no frames"):
        session_frames(tmp_path / "empty", 5, 1, enroll_image=None)
