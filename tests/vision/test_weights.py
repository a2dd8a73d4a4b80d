"""Fetching and verifying weights; a corrupt or missing file stops loading, naming the fix."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest

from processors.vision.cli import register
from processors.vision.device import DeviceChoice
from processors.vision.embedder import FaceNetEmbedder
from processors.vision.liveness import MiniFasNetLiveness
from tests.conftest import model_cache
from tests.vision.conftest import MIRROR, needs_mirror
from vigil.core.settings import Settings, load_settings
from vigil.core.weights import (
    MANIFEST,
    WeightsError,
    fetch_weights,
    load_manifest,
    require_weight,
    verify_weights,
)

pytestmark = needs_mirror
CPU = DeviceChoice("cpu", "cpu", False, "test")
LIVENESS_FILE = "2.7_80x80_MiniFASNetV2.pth"


def _settings(tmp_path: Path, mirror: Path | None = MIRROR) -> Settings:
    return load_settings(state_dir=tmp_path / "state", weights_dir=tmp_path / "weights",
                         weights_mirror=mirror)


def _small_copy(tmp_path: Path) -> Settings:
    """A weights folder holding only the (small) liveness files, verified."""
    settings = _settings(tmp_path)
    fetch_weights(settings, names=settings.models.liveness_weights, progress=False)
    return settings


def test_fetch_from_mirror_then_verify(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    fetched = fetch_weights(settings, progress=False)
    manifest = load_manifest()
    assert {s.name for s in fetched} == set(manifest)
    # An optional file the mirror lacks is reported absent, not fetched and not an error.
    absent = {n for n, e in manifest.items() if e.optional and not (MIRROR / n).is_file()}
    assert all("copied from" in s.detail for s in fetched if s.name not in absent)
    assert all(s.ok and "absent (optional" in s.detail for s in fetched if s.name in absent)
    assert all(s.ok for s in verify_weights(settings))
    again = fetch_weights(settings, progress=False)
    assert all(s.detail == "already present" for s in again if s.name not in absent)


def test_manifest_matches_the_mirror_readme_facts() -> None:
    entries = load_manifest(MANIFEST)
    for entry in entries.values():
        if entry.optional and not (MIRROR / entry.name).is_file():
            continue  # not in the mirror yet (its plug-in's tests skip)
        assert (MIRROR / entry.name).stat().st_size == entry.bytes
        assert entry.licence and entry.source and len(entry.sha256) == 64


def test_one_changed_byte_fails_verify_and_loading(tmp_path: Path) -> None:
    settings = _small_copy(tmp_path)
    path = settings.weights.path / LIVENESS_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    bad = {s.name: s for s in verify_weights(settings)}[LIVENESS_FILE]
    assert not bad.ok and "sha256" in bad.detail
    with pytest.raises(WeightsError) as info:
        MiniFasNetLiveness(settings, CPU).load()
    assert LIVENESS_FILE in str(info.value) and "vigil weights fetch" in str(info.value)

    fetch_weights(settings, names=[LIVENESS_FILE], progress=False)  # the fix the error names
    assert require_weight(settings, LIVENESS_FILE) == path


def test_missing_file_names_file_and_command(tmp_path: Path) -> None:
    settings = _small_copy(tmp_path)
    with pytest.raises(WeightsError) as info:
        FaceNetEmbedder(settings, CPU).load()
    message = str(info.value)
    assert settings.models.embedder_weights in message and "missing" in message
    assert "vigil weights fetch" in message


def test_no_mirror_and_no_url_is_a_clear_error(tmp_path: Path) -> None:
    settings = _settings(tmp_path, mirror=None)
    with pytest.raises(WeightsError, match="no download url"):
        fetch_weights(settings, names=[settings.models.embedder_weights], progress=False)


def test_download_failure_is_a_clear_error(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(
        '[[file]]\nname = "x.pt"\nbytes = 1\nsha256 = "' + "0" * 64 + '"\n'
        'licence = "MIT"\nsource = "test"\nurl = "http://127.0.0.1:9/x.pt"\n'
    )
    settings = _settings(tmp_path, mirror=None)
    with pytest.raises(WeightsError, match=r"download of x\.pt from http://127\.0\.0\.1:9"):
        fetch_weights(settings, manifest=manifest, progress=False)
    assert not (settings.weights.path / "x.pt").exists()


def test_cli_verify_exit_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    settings = _settings(tmp_path)
    fetch_weights(settings, progress=False)
    monkeypatch.setenv("VIGIL_WEIGHTS_DIR", str(settings.weights.path))
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["weights", "verify"])
    assert args.handler(args) == 0
    shutil.copy(settings.weights.path / LIVENESS_FILE,
                settings.weights.path / settings.models.liveness_weights[1])
    assert args.handler(args) == 1
    assert "BAD" in capsys.readouterr().out


def test_cli_prepare_fills_the_model_cache_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fetched_weights: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    # The session's cache is prepared already (tests/conftest.py): prepare finds every model
    # there, converts nothing again, and names the versions the stages will report.
    cache = model_cache(fetched_weights)
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("*.xml")}
    monkeypatch.setenv("VIGIL_WEIGHTS_DIR", str(fetched_weights))
    monkeypatch.setenv("VIGIL_MODEL_CACHE_DIR", str(cache))
    monkeypatch.setenv("VIGIL_STATE_DIR", str(tmp_path / "state"))
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["weights", "prepare"])
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    embedder = load_settings().models.face_embedder
    assert f"ok      face_embedder: {embedder}@" in out and f"model cache: {cache}" in out
    assert before and {p: p.stat().st_mtime_ns for p in cache.rglob("*.xml")} == before
