"""Settings: defaults, the TOML file, the environment, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from vigil.core.settings import SettingsError, load_settings


def test_defaults_follow_the_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("VIGIL_NAMESPACE", "VIGIL_MAX_PIPELINES", "VIGIL_MAX_CLIENTS_PER_PIPELINE"):
        monkeypatch.delenv(key, raising=False)
    settings = load_settings()
    assert settings.namespace == "vigil"
    assert settings.partitions == 12
    assert settings.replication_factor is None  # from the cluster's size
    assert settings.capacity == settings.max_pipelines * settings.max_clients_per_pipeline
    assert settings.topic("frames") == "vigil.frames"
    assert settings.weights_path == settings.state_dir / "weights"


def test_environment_beats_file_and_file_beats_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "vigil.toml"
    config.write_text('namespace = "fromfile"\nmax_pipelines = 3\n')
    monkeypatch.setenv("VIGIL_MAX_PIPELINES", "5")
    settings = load_settings(config)
    assert settings.namespace == "fromfile"
    assert settings.max_pipelines == 5
    monkeypatch.setenv("VIGIL_CONFIG", str(config))
    assert load_settings().namespace == "fromfile"


def test_unknown_key_in_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "vigil.toml"
    config.write_text("max_pipeline = 3\n")
    with pytest.raises(SettingsError, match="unknown setting 'max_pipeline'"):
        load_settings(config)


def test_unknown_environment_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_MAX_PIPELNES", "2")
    with pytest.raises(SettingsError, match=r"VIGIL_MAX_PIPELNES.*VIGIL_MAX_PIPELINES"):
        load_settings()


def test_bad_value_names_key_and_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_MAX_CLIENTS_PER_PIPELINE", "0")
    with pytest.raises(SettingsError, match=r"max_clients_per_pipeline=.*ge 1, le 1000"):
        load_settings()


def test_bad_bootstrap_and_namespace_are_refused() -> None:
    with pytest.raises(SettingsError, match="kafka_bootstrap"):
        load_settings(kafka_bootstrap="localhost")
    with pytest.raises(SettingsError, match="namespace"):
        load_settings(namespace="../etc")


def test_missing_settings_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "absent.toml")


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(ValidationError):
        settings.namespace = "other"  # type: ignore[misc]


def test_allowed_origins_are_origins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_ALLOWED_ORIGINS", '["https://Console.Example.org:8443"]')
    assert load_settings().allowed_origins == ("https://console.example.org:8443",)
    for bad in ("https://console.example.org/", "console.example.org", "null"):
        with pytest.raises(SettingsError, match="allowed_origins") as error:
            load_settings(allowed_origins=(bad,))
        assert "not an origin" in str(error.value)
