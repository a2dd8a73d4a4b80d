"""The one check of a fault run's row, shared by the fault matrix and the multi-host test:
every frame answered once (decided, refused, or its session closed in a way the case allows),
none lost or twice, audit and evidence complete, and the broken part serving again."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from vigil.apps.faults.matrix import STEADY, CaseCount


def assert_answered_once(row: CaseCount, case: str, log: Path,
                         session_ends: Mapping[str, tuple[str, ...]]) -> None:
    where = f"{row} (the stages' log: {log})"
    assert row.frames > 0, f"no frame was sent during the case {where}"
    assert (row.lost, row.duplicated) == (0, 0), where
    assert row.decided + row.errors + row.cut == row.frames, where
    assert (row.audit_missing, row.evidence_missing) == (0, 0), where
    ends = {how.removeprefix("closed ") for how in row.how if how.startswith("closed ")}
    assert ends <= set(session_ends.get(case, ())), where
    if case != STEADY:
        assert row.recovery_s is not None, f"{case} did not recover {where}"
