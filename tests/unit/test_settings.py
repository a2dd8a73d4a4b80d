"""Settings: defaults, the TOML file, the environment, and errors that name the key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, TypeAdapter, ValidationError

from vigil.core.plugins import AUTO, EMBEDDER_THRESHOLDS, MOBILEFACENET_WEIGHTS, REGISTRY
from vigil.core.settings import AREAS, Settings, SettingsError, env_names, load_settings


def test_defaults_follow_the_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("VIGIL_NAMESPACE", "VIGIL_MAX_PIPELINES", "VIGIL_MAX_CLIENTS_PER_PIPELINE"):
        monkeypatch.delenv(key, raising=False)
    settings = load_settings()
    assert settings.deployment.namespace == "vigil"
    assert settings.kafka.partitions == 12
    assert settings.kafka.replication_factor is None  # from the cluster's size
    assert settings.scaling.admission_rule == "measured"
    assert (
        settings.scaling.capacity
        == settings.scaling.max_pipelines * settings.scaling.admission_share_ceiling
    )
    seed = settings.replace(admission_rule="sessions").scaling
    assert seed.capacity == seed.max_pipelines * seed.max_clients_per_pipeline
    assert settings.topic("frames") == "vigil.frames"
    assert settings.weights.path == settings.deployment.state_dir / "weights"


def test_environment_beats_file_and_file_beats_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "vigil.toml"
    config.write_text('namespace = "fromfile"\nmax_pipelines = 3\n')
    monkeypatch.setenv("VIGIL_MAX_PIPELINES", "5")
    settings = load_settings(config)
    assert settings.deployment.namespace == "fromfile"
    assert settings.scaling.max_pipelines == 5
    monkeypatch.setenv("VIGIL_CONFIG", str(config))
    assert load_settings().deployment.namespace == "fromfile"


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
        settings.deployment.namespace = "other"  # type: ignore[misc]


def test_allowed_origins_are_origins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_ALLOWED_ORIGINS", '["https://Console.Example.org:8443"]')
    assert load_settings().gateway.allowed_origins == ("https://console.example.org:8443",)
    for bad in ("https://console.example.org/", "console.example.org", "null"):
        with pytest.raises(SettingsError, match="allowed_origins") as error:
            load_settings(allowed_origins=(bad,))
        assert "not an origin" in str(error.value)


# --- settings by area: the flat names of before the split keep working -------------------------

# Every VIGIL_ variable of the flat settings (main before issue 17), a sample value, and what the
# flat settings made of it: generated from that code, kept as it was.
OLD_NAMES = json.loads((Path(__file__).parent / "settings_env_names.json").read_text())


def _clear_vigil_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.upper().startswith("VIGIL_")]:
        monkeypatch.delenv(key)


def _value(settings: Settings, env: str) -> Any:
    area, name = env_names()[env]
    model = getattr(settings, area)
    value = getattr(model, name)
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return TypeAdapter(type(model).model_fields[name].annotation).dump_python(value, mode="json")


def test_every_old_variable_sets_the_same_value(monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(OLD_NAMES) == 108
    _clear_vigil_env(monkeypatch)
    defaults = load_settings()
    for env, sample in OLD_NAMES.items():
        monkeypatch.setenv(env, sample["env"])
    settings = load_settings()
    for env, sample in OLD_NAMES.items():
        assert _value(settings, env) == sample["value"], env
        assert _value(defaults, env) != sample["value"], env  # the sample is no default


def test_old_names_work_as_keywords_and_file_keys(tmp_path: Path) -> None:
    wanted = {"kafka_bootstrap": "10.0.0.1:9092", "redis_url": "redis://10.0.0.2:6379/1",
              "sink_batch_size": 7, "gateway_drain_s": 2.5, "enroll_max_yaw": 0.3}
    config = tmp_path / "vigil.toml"
    config.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in wanted.items()))
    for settings in (Settings(**wanted), load_settings(config), load_settings(**wanted),
                     load_settings().replace(**wanted)):
        for flat, value in wanted.items():
            assert _value(settings, f"VIGIL_{flat.upper()}") == value, flat


def test_the_file_may_nest_keys_by_area(tmp_path: Path) -> None:
    config = tmp_path / "vigil.toml"
    config.write_text('namespace = "flat"\n[kafka]\nbootstrap = "10.0.0.1:9092"\npartitions = 3\n'
                      '[gateway]\ngateway_port = 9000\n')  # in an area, the flat name works too
    settings = load_settings(config)
    assert settings.deployment.namespace == "flat"
    assert (settings.kafka.bootstrap, settings.kafka.partitions) == ("10.0.0.1:9092", 3)
    assert settings.gateway.port == 9000
    config.write_text("[kafka]\nbootstrapp = \"10.0.0.1:9092\"\n")
    with pytest.raises(SettingsError, match=r"unknown setting 'kafka.bootstrapp'; did you mean "
                                            r"bootstrap\?"):
        load_settings(config)


def test_a_setting_given_by_both_names_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "vigil.toml"
    config.write_text('kafka_bootstrap = "a:1"\n[kafka]\nbootstrap = "b:2"\n')
    twice = r"setting kafka[._]bootstrap is given twice \(also as kafka[._]bootstrap\)"
    with pytest.raises(SettingsError, match=twice):
        load_settings(config)


def test_environment_beats_a_nested_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "vigil.toml"
    config.write_text('[kafka]\nbootstrap = "file:1"\npartitions = 3\n')
    monkeypatch.setenv("VIGIL_KAFKA_BOOTSTRAP", "env:2")
    settings = load_settings(config)
    assert (settings.kafka.bootstrap, settings.kafka.partitions) == ("env:2", 3)


def test_a_removed_or_misspelt_variable_names_the_nearest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_KAFKA_BOOTSTRAPS", "127.0.0.1:9092")
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert str(error.value) == ("VIGIL_KAFKA_BOOTSTRAPS is not a setting; did you mean "
                                "VIGIL_KAFKA_BOOTSTRAP?")
    monkeypatch.delenv("VIGIL_KAFKA_BOOTSTRAPS")
    monkeypatch.setenv("VIGIL_KAFKA__BOOTSTRAP", "127.0.0.1:9092")  # no nested names
    with pytest.raises(SettingsError, match="did you mean VIGIL_KAFKA_BOOTSTRAP"):
        load_settings()


def test_a_list_in_the_environment_must_be_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_PHONE_VIEWS", "whole,tiled")
    with pytest.raises(SettingsError, match=r"VIGIL_PHONE_VIEWS is not JSON"):
        load_settings()


def test_flat_keywords_and_areas_build_the_same_settings() -> None:
    flat = Settings(kafka_bootstrap="h:1", max_pipelines=3)
    nested = Settings(kafka={"bootstrap": "h:1"}, scaling={"max_pipelines": 3})
    assert flat == nested
    assert flat.scaling.capacity == 3 * flat.scaling.admission_share_ceiling
    with pytest.raises(SettingsError, match="given twice"):
        Settings(kafka_bootstrap="h:1", kafka={"bootstrap": "h:2"})


def test_replace_validates_and_keeps_the_rest() -> None:
    settings = load_settings(namespace="kept")
    changed = settings.replace(partitions=4, kafka={"controller_port": 9500})
    assert (changed.kafka.partitions, changed.kafka.controller_port) == (4, 9500)
    assert changed.deployment.namespace == "kept"
    assert changed.weights.path == settings.weights.path
    assert settings.kafka.partitions == 12  # frozen: a copy
    with pytest.raises(ValidationError, match="partitions"):
        settings.replace(partitions=0)


def test_every_field_has_a_description_and_one_flat_name() -> None:
    seen: list[tuple[str, str]] = []
    for area, model in AREAS.items():
        assert Settings.model_fields[area].description, area
        for name, field in model.model_fields.items():
            assert field.description, f"{area}.{name}"
            seen.append((area, name))
    assert sorted(env_names().values()) == sorted(seen)  # each field, one name
    assert set(OLD_NAMES) <= set(env_names())


def test_cross_field_errors_name_the_bad_value() -> None:
    with pytest.raises(SettingsError, match=r"face_processes_min=3 is above "
                                            r"face_processes_max=2"):
        load_settings(face_processes_min=3, face_processes_max=2)
    with pytest.raises(SettingsError, match="tls_cert is set alone"):
        load_settings(tls_cert="/tmp/cert.pem")


def test_plugin_names_are_the_registry_s() -> None:
    for role, specs in REGISTRY.items():
        for name in specs:
            assert getattr(load_settings(**{role: name}).models, role) == name
        known = ", ".join((AUTO, *sorted(specs)) if role == "face_embedder" else sorted(specs))
        with pytest.raises(SettingsError, match=rf"no {role} plug-in named 'nope'; known: "
                                                rf"{known}"):
            load_settings(**{role: "nope"})
    with pytest.raises(SettingsError, match="no liveness plug-in an ensemble combines named "
                                            "'ensemble'"):
        load_settings(liveness_ensemble=("ensemble", "minifasnet"))


GROUND_FLOOR_PROBE = """
import sys
import vigil.core.plugins, vigil.core.settings
vigil.core.settings.load_settings()
print(sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[1:])))
"""


def test_settings_import_no_stage_package() -> None:
    stages = ("processors", "sinks", "control", "ingest", "console", "schemas")
    out = subprocess.run([sys.executable, "-c", GROUND_FLOOR_PROBE, *stages],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    assert out.strip() == "[]"


def test_the_settings_reference_shows_the_loader_s_names() -> None:
    from vigil.apps.settings_reference import setting_rows

    assert {row.env: row.path for row in setting_rows(Settings)} == env_names()


def test_an_area_given_a_value_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "vigil.toml"
    config.write_text("admission_poll_s = 1.0\ngateway = false\n")  # found by hypothesis
    with pytest.raises(SettingsError, match="setting gateway is an area: give it a table"):
        load_settings(config)


def test_auto_embedder_follows_the_weights_folder(tmp_path: Path) -> None:
    # auto takes MobileFaceNet only where its optional file was fetched, with its own
    # threshold; without the file FaceNet (in int8 where there are photos to calibrate it on),
    # with FaceNet's. An explicit threshold wins.
    weights, mirror, faces = tmp_path / "weights", tmp_path / "mirror", tmp_path / "faces"
    for folder in (weights, mirror, faces):
        folder.mkdir()
    without = Settings(weights_dir=weights, weights_mirror=mirror, int8_calibration_faces=faces)
    assert (without.models.face_embedder, without.models.verify) == ("facenet_openvino", 1.00)
    (faces / "notes.txt").write_text("not a photo")
    assert Settings(weights_dir=weights, int8_calibration_faces=faces).models.face_embedder == (
        "facenet_openvino")
    (faces / "someone.JPG").write_bytes(b"jpeg")
    calibrated = Settings(weights_dir=weights, weights_mirror=mirror,
                          int8_calibration_faces=faces)
    assert (calibrated.models.face_embedder, calibrated.models.verify) == ("facenet_int8", 1.00)
    # In the mirror, not yet fetched: chosen already, as the stages will once they fetch it
    # (a process that enrolls before the first fetch must not enroll under the other one).
    (mirror / MOBILEFACENET_WEIGHTS).write_bytes(b"onnx")
    assert Settings(weights_dir=weights, weights_mirror=mirror).models.face_embedder == (
        "mobilefacenet")
    (mirror / MOBILEFACENET_WEIGHTS).unlink()
    (weights / MOBILEFACENET_WEIGHTS).write_bytes(b"onnx")
    chosen = Settings(weights_dir=weights, weights_mirror=mirror)
    assert (chosen.models.face_embedder, chosen.models.verify) == ("mobilefacenet", 1.16)
    assert Settings(weights_dir=weights, verify_threshold=0.9).models.verify == 0.9
    # A choice made stays made: replace() does not choose again, and a named embedder is kept.
    assert chosen.replace(face_embedder="facenet").models.verify == 1.00
    assert without.replace(weights_dir=weights).models.face_embedder == "facenet_openvino"
    assert Settings(weights_dir=weights, face_embedder="facenet").models.face_embedder == (
        "facenet")
    # Every embedder has a threshold of its own, so naming any of them leaves one in force.
    assert set(EMBEDDER_THRESHOLDS) == set(REGISTRY["face_embedder"])


def test_int8_calibration_faces_default_to_the_shared_pictures_where_they_are(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import vigil.core.settings.root as root

    monkeypatch.setattr(root, "SHARED_FACES", tmp_path / "absent")
    nowhere = Settings(weights_dir=tmp_path / "weights")
    assert nowhere.models.int8_calibration_faces is None
    assert nowhere.models.face_embedder == "facenet_openvino"
    (tmp_path / "faces").mkdir()
    (tmp_path / "faces" / "someone.png").write_bytes(b"png")
    monkeypatch.setattr(root, "SHARED_FACES", tmp_path / "faces")
    shared = Settings(weights_dir=tmp_path / "weights")
    assert shared.models.int8_calibration_faces == tmp_path / "faces"
    assert shared.models.face_embedder == "facenet_int8"
    own = Settings(weights_dir=tmp_path / "weights", int8_calibration_faces=tmp_path)
    assert own.models.int8_calibration_faces == tmp_path  # a folder given is kept
