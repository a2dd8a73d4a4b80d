"""The stage table, run_stage's contract, the rolling restart window and the error base."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from vigil.apps.children import RestartWindow, stage_children
from vigil.apps.cli import build_parser, main
from vigil.core.errors import VigilError
from vigil.core.flow import STAGES, UnknownStageError, stage
from vigil.core.flow_types import PORT_STRIDE, StageKind, supervisor_metrics_port
from vigil.core.settings import SettingsError, load_settings


def test_every_stage_has_a_builder_and_a_command_the_cli_parses() -> None:
    parser = build_parser()
    for entry in STAGES:
        module, function = entry.builder.split(":")
        assert callable(getattr(importlib.import_module(module), function)), entry.builder
        args = parser.parse_args([*entry.command, "--metrics-port", "0"])
        assert args.stage == entry.name


def test_metrics_ports_follow_the_table_and_never_collide() -> None:
    settings = load_settings(metrics_port_base=9400)
    ports = [s.metrics_port(settings, replica) for s in STAGES for replica in range(3)]
    assert len(set(ports)) == len(ports)
    assert stage("gateway").metrics_port(settings) == 9400
    assert stage("face").metrics_port(settings, replica=1) == 9400 + PORT_STRIDE + 1
    assert supervisor_metrics_port(settings) not in ports
    assert [c.metrics_port for c in stage_children(settings)] == list(range(9400, 9407))
    off = load_settings(metrics_port_base=0)
    assert {s.metrics_port(off) for s in STAGES} == {0}


def test_unknown_stage_names_the_known_ones() -> None:
    with pytest.raises(UnknownStageError, match="face, phone"):
        stage("nope")
    assert [s.name for s in STAGES if s.kind is StageKind.SINK] == ["evidence", "audit",
                                                                     "replies"]


def test_restarts_are_limited_within_a_rolling_window() -> None:
    window = RestartWindow(max_restarts=3, window_s=60)
    assert [window.allow(t) for t in (0, 1, 2)] == [True, True, True]
    assert not window.allow(3)  # a fourth death within a minute: give up
    assert window.allow(61.5)  # the first two left the window: 2 and 61.5 are in it
    assert window.backoff_s() == 2.0


def test_errors_meant_for_people_carry_their_exit_code(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert issubclass(SettingsError, VigilError) and SettingsError("x").exit_code == 2
    assert VigilError("x", exit_code=3).exit_code == 3
    missing = tmp_path / "absent.toml"
    assert main(["--config", str(missing), "status"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vigil: bad settings: ") and str(missing) in err
    assert "Traceback" not in err
