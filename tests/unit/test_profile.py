"""run_stage writes a cProfile of the stage's run when profile_dir is set."""

from __future__ import annotations

import pstats
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from vigil.apps.run_stage import run_stage
from vigil.core.flow_types import Stage, StageIO, StageKind
from vigil.core.settings import Settings, load_settings


class CountingStage:
    """A Runnable that does a little measurable work and returns."""

    def run(self) -> int:
        return 0 if sum_of_squares(200_000) > 0 else 1

    def stop(self) -> None:
        return None

    def healthy(self) -> bool:
        return True


def sum_of_squares(n: int) -> int:
    return sum(i * i for i in range(n))


def build(_entry: Stage, _settings: Settings, _io: StageIO) -> CountingStage:
    return CountingStage()


@pytest.fixture(autouse=True)
def keep_signal_handlers() -> Iterator[None]:
    """run_stage installs its own SIGTERM and SIGINT handlers; give pytest its own back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_profile_dir_gets_one_profile_per_stage_process(tmp_path: Path) -> None:
    entry = Stage("probe", StageKind.SINK, f"{__name__}:build")
    assert run_stage(entry, load_settings(profile_dir=tmp_path / "prof"), metrics_port=0) == 0
    [written] = list((tmp_path / "prof").glob("probe-*.prof"))
    functions = {name for _file, _line, name in pstats.Stats(str(written)).stats}  # type: ignore[attr-defined]
    assert "sum_of_squares" in functions
    assert run_stage(entry, load_settings(state_dir=tmp_path), metrics_port=0) == 0
    assert len(list((tmp_path / "prof").glob("*.prof"))) == 1  # off by default
