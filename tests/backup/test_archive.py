"""`vigil backup` and `vigil restore` without a broker: members, checks, keys, engines."""

from __future__ import annotations

import base64
import json
import stat
import tarfile
from pathlib import Path

import pytest

from control.users.crypto import key_file, load_key
from control.users.repository import open_repository
from control.users.tokens import token_matches
from sinks.evidence_store import evidence_root, find_evidence, read_evidence
from tests.backup.state import JPEG, make_state, rewrite_member
from vigil.apps.cli import main
from vigil.backup.archive import write_backup
from vigil.backup.manifest import BackupError, key_fingerprint
from vigil.backup.restore import restore_backup
from vigil.core.settings import Settings, load_settings


def state(folder: Path, **overrides: object) -> Settings:
    return load_settings(state_dir=folder, **overrides)


@pytest.fixture
def backed_up(tmp_path: Path) -> tuple[Settings, Path, dict[str, str]]:
    """A state with clients, evidence and audit lines, and its archive (no key inside)."""
    live = state(tmp_path / "live")
    tokens = make_state(live)
    archive = tmp_path / "backup.tar"
    write_backup(live, archive, None, include_key=False)
    return live, archive, tokens


def give_key(source: Settings, target: Settings) -> None:
    """What an operator does: put the deployment's key file in the new state folder."""
    key_file(target).parent.mkdir(parents=True, exist_ok=True)
    key_file(target).write_bytes(key_file(source).read_bytes())
    key_file(target).chmod(0o600)


def test_archive_lists_every_member_with_its_sha256_and_holds_no_key(
        backed_up: tuple[Settings, Path, dict[str, str]]) -> None:
    live, archive, _tokens = backed_up
    with tarfile.open(archive) as tar:
        names = [n.removeprefix("vigil-backup/") for n in tar.getnames()]
        manifest = json.loads(tar.extractfile("vigil-backup/MANIFEST.json").read())  # type: ignore[union-attr]
    assert names[-1] == "MANIFEST.json"
    assert set(names[:-1]) == set(manifest["members"])
    assert {"users.sqlite3", "audit/audit.log", "config/policy.yaml",
            "config/weights-manifest.toml"} <= set(names)
    assert sum(n.startswith("evidence/client-0/") for n in names) == 3
    assert "key/secret.key" not in names and not manifest["key_included"]
    assert (manifest["clients"], manifest["audit_lines"], manifest["evidence_items"]) == (2, 3, 3)
    assert manifest["key_fingerprint"] == key_fingerprint(load_key(live))
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert base64.b64encode(load_key(live)) not in archive.read_bytes()


def test_restore_needs_the_key_then_restores_what_was_there(
        backed_up: tuple[Settings, Path, dict[str, str]], tmp_path: Path) -> None:
    live, archive, tokens = backed_up
    fresh = state(tmp_path / "fresh")
    with pytest.raises(BackupError, match="made without the data key") as caught:
        restore_backup(fresh, archive, force=False, read_control_topic=False)
    assert key_fingerprint(load_key(live)) in str(caught.value)
    assert not fresh.user_db_path.exists() and not key_file(fresh).exists()

    other = state(tmp_path / "other", secret_key=base64.b64encode(bytes(32)).decode())
    with pytest.raises(BackupError, match="is not the one this backup was made with"):
        restore_backup(other, archive, force=False, read_control_topic=False)

    give_key(live, fresh)
    report = restore_backup(fresh, archive, force=False, read_control_topic=False)
    assert any("2 clients (2 enrolled, embeddings decrypt)" in line for line in report.placed)
    repo = open_repository(fresh)
    record = repo.get("client-1")
    assert record is not None and token_matches(tokens["client-1"], record.token_hash)
    repo.close()
    item = read_evidence(fresh, find_evidence(fresh, "frame-2"))
    assert item.jpeg == JPEG and item.decision.client_id == "client-0"

    with pytest.raises(BackupError, match=r"refusing to overwrite.*2 client"):
        restore_backup(fresh, archive, force=False, read_control_topic=False)
    restore_backup(fresh, archive, force=True, read_control_topic=False)
    aside = list(fresh.deployment.state_dir.glob("replaced-*"))
    assert len(aside) == 1 and (aside[0] / "users.sqlite3").is_file()


@pytest.mark.parametrize("member", ["users.sqlite3", "audit/audit.log",
                                    "evidence/client-0/DAY/frame-1.vgev"])
def test_a_tampered_member_is_refused_by_name_and_nothing_is_restored(
        backed_up: tuple[Settings, Path, dict[str, str]], tmp_path: Path, member: str) -> None:
    live, archive, _tokens = backed_up
    if "DAY" in member:
        member = "evidence/" + find_evidence(live, "frame-1").relative_to(
            evidence_root(live)).as_posix()
    with tarfile.open(archive) as tar:
        data = bytearray(tar.extractfile(f"vigil-backup/{member}").read())  # type: ignore[union-attr]
    data[len(data) // 2] ^= 0x01
    rewrite_member(archive, f"vigil-backup/{member}", bytes(data))
    fresh = state(tmp_path / "fresh")
    give_key(live, fresh)
    with pytest.raises(BackupError, match=f"member {member} does not match its sha256"):
        restore_backup(fresh, archive, force=False, read_control_topic=False)
    assert sorted(p.name for p in fresh.deployment.state_dir.iterdir()) == ["secret.key"]


def test_altered_manifest_unknown_and_escaping_members_are_refused(
        backed_up: tuple[Settings, Path, dict[str, str]], tmp_path: Path) -> None:
    live, archive, _tokens = backed_up
    fresh = state(tmp_path / "fresh")
    give_key(live, fresh)
    pristine = archive.read_bytes()
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("vigil-backup/MANIFEST.json").read())  # type: ignore[union-attr]
    manifest["clients"] = 3  # every member intact, the manifest edited
    rewrite_member(archive, "vigil-backup/MANIFEST.json", json.dumps(manifest).encode())
    with pytest.raises(BackupError, match=r"was altered \(its seal does not verify"):
        restore_backup(fresh, archive, force=False, read_control_topic=False)
    for bad in ("vigil-backup/../../etc/cron.d/x", "vigil-backup/config/extra.yaml"):
        archive.write_bytes(pristine)
        rewrite_member(archive, "vigil-backup/config/policy.yaml", rename=bad)
        with pytest.raises(BackupError, match="is not one a Vigil backup holds"):
            restore_backup(fresh, archive, force=False, read_control_topic=False)
    archive.write_bytes(pristine[:len(pristine) // 2])
    with pytest.raises(BackupError):
        restore_backup(fresh, archive, force=False, read_control_topic=False)
    assert not (tmp_path / "etc").exists()


def test_include_key_says_so_loudly_and_restores_without_a_key_here(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    live = state(tmp_path / "live")
    make_state(live, clients=1, items=1)
    config = tmp_path / "vigil.toml"
    config.write_text(f'namespace = "prod"\nsecret_key = "{base64.b64encode(bytes(32)).decode()}"'
                      '\nmax_pipelines = 2\n')
    monkeypatch.setenv("VIGIL_STATE_DIR", str(live.deployment.state_dir))
    archive = tmp_path / "with-key.tar"
    assert main(["backup", str(archive)]) == 0
    out = capsys.readouterr()
    assert "is NOT in the archive" in out.out
    assert main(["backup", "--include-key", str(archive)]) == 0
    assert "THIS ARCHIVE HOLDS THE DATA KEY" in capsys.readouterr().err

    fresh = state(tmp_path / "fresh")
    monkeypatch.setenv("VIGIL_STATE_DIR", str(fresh.deployment.state_dir))
    assert main(["restore", str(archive), "--no-control-topic"]) == 0
    assert "data key from the archive" in capsys.readouterr().out
    assert key_file(fresh).read_bytes() == key_file(live).read_bytes()
    assert stat.S_IMODE(key_file(fresh).stat().st_mode) == 0o600

    # A settings file in use goes in without its secret_key unless the key is wanted.
    write_backup(live, tmp_path / "cfg.tar", config, include_key=False)
    with tarfile.open(tmp_path / "cfg.tar") as tar:
        kept = tar.extractfile("vigil-backup/config/settings.toml").read().decode()  # type: ignore[union-attr]
    assert "max_pipelines = 2" in kept and base64.b64encode(bytes(32)).decode() not in kept


def test_postgres_user_database_is_dumped_and_restored(postgres_server: str,
                                                       tmp_path: Path) -> None:
    from tests.postgres import fresh_database

    with fresh_database(postgres_server) as source, fresh_database(postgres_server) as target:
        live = state(tmp_path / "live", user_db=source)
        tokens = make_state(live, clients=3, items=1)
        archive = tmp_path / "pg.tar"
        manifest = write_backup(live, archive, None, include_key=True)
        assert "users.pgdump" in manifest.members and manifest.clients == 3

        with pytest.raises(BackupError, match="holds a postgresql user database but these "
                           "settings name a sqlite one"):
            restore_backup(state(tmp_path / "sqlite"), archive, force=False)
        fresh = state(tmp_path / "fresh", user_db=target)
        open_repository(fresh).close()  # a gateway started first: empty tables, a new key
        with pytest.raises(BackupError, match=r"another data key.*--force moves it aside"):
            restore_backup(fresh, archive, force=False, read_control_topic=False)
        report = restore_backup(fresh, archive, force=True, read_control_topic=False)
        assert any("3 clients (3 enrolled" in line for line in report.placed)
        assert (
            len(list(fresh.deployment.state_dir.glob("replaced-*/secret.key"))) == 1
        )  # moved aside
        repo = open_repository(fresh)
        record = repo.get("client-2")
        assert record is not None and token_matches(tokens["client-2"], record.token_hash)
        repo.close()
        with pytest.raises(BackupError, match=r"refusing to overwrite.*3 client"):
            restore_backup(fresh, archive, force=False, read_control_topic=False)
