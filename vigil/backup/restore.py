"""`vigil restore FILE`: check an archive whole, then put it back into the state folder.

Nothing is written where the system reads until every check has passed, in this order:

1. ``MANIFEST.json`` is there and valid, for the engine the settings name (an archive of a
   SQLite user database restores onto SQLite, a pg_dump onto PostgreSQL);
2. every member is one a Vigil archive holds, listed in the manifest, and matches its sha256
   (extracted into ``STATE_DIR/.restore-staging``, never by name onto the disk);
3. the data key: the archive's (``--include-key``) or the one already here
   (``VIGIL_SECRET_KEY`` or ``STATE_DIR/secret.key``), with the fingerprint the backup recorded,
   and the manifest's seal verifies under it;
4. the state folder holds no clients, audit log or evidence, unless ``--force``: then what is
   there is moved to ``STATE_DIR/replaced-{time}/`` (PostgreSQL tables are replaced), and so
   is a key file that differs from the archive's own key.

Then the user database, audit log, evidence and key are placed (vigil/backup/place.py), and
every client forgotten after the backup was taken is forgotten again (vigil/backup/erasures.py):
an erasure survives a restore.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from control.users.crypto import CryptoError, decode_key, load_key
from vigil.backup.erasures import Erasures, from_audit_log, from_control_topic, reapply
from vigil.backup.manifest import (
    AUDIT_LOG,
    KEY,
    MANIFEST_MEMBER,
    ROOT,
    BackupError,
    Manifest,
    is_member_name,
    key_fingerprint,
    seal_matches,
)
from vigil.backup.place import existing_state, place_all
from vigil.core.settings import Settings, redact_url

log = logging.getLogger(__name__)

STAGING = ".restore-staging"
_CHUNK = 1 << 20


@dataclass
class RestoreReport:
    """What a restore put where, and what the operator should know."""

    manifest: Manifest
    key_source: str
    placed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    erased: list[str] = field(default_factory=list)  # clients forgotten again


def restore_backup(settings: Settings, archive: Path, force: bool,
                   read_control_topic: bool = True) -> RestoreReport:
    """Check ``archive`` and restore it into the settings' state (see the module docstring).

    ``read_control_topic`` False: erasures made after the backup are re-applied from the
    audit log moved aside only (a restore without Kafka; the report says so)."""
    if not archive.is_file():
        raise BackupError(f"no backup archive at {archive}")
    staging = settings.deployment.state_dir / STAGING
    try:
        tar = tarfile.open(archive, mode="r:*")  # noqa: SIM115 - closed by the with below
    except tarfile.TarError as exc:
        raise BackupError(f"{archive} is not a tar archive: {exc}") from None
    with tar:
        try:
            report = _restore_from(settings, tar, archive, staging, force, read_control_topic)
        except tarfile.TarError as exc:
            raise BackupError(f"{archive} is damaged or incomplete ({exc}): nothing was "
                              "restored") from None
    return report


def _restore_from(settings: Settings, tar: tarfile.TarFile, archive: Path, staging: Path,
                  force: bool, read_control_topic: bool) -> RestoreReport:
    manifest = read_manifest(tar, archive)
    _check_engine(settings, manifest)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True, mode=0o700)
    try:
        extract_verified(tar, manifest, staging)
        key, key_source = _data_key(settings, manifest, staging, force)
        if not seal_matches(manifest, key):
            raise BackupError(f"{MANIFEST_MEMBER} of {archive} was altered (its seal does "
                              "not verify under the data key): refusing the archive")
        found = existing_state(settings)
        if found and not force:
            raise BackupError("refusing to overwrite the state here: "
                              + "; ".join(found) + ". Restore into an empty state folder, "
                              "or pass --force (what is there moves to STATE_DIR/"
                              "replaced-TIME/; PostgreSQL tables are replaced)")
        report = RestoreReport(manifest, key_source)
        aside = (settings.deployment.state_dir / f"replaced-{time.strftime('%Y%m%dT%H%M%S')}"
                 if force else None)
        place_all(settings, manifest, staging, key, aside, report.placed, report.notes)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _erase_again(settings, manifest, aside, read_control_topic, report)
    return report


def _erase_again(settings: Settings, manifest: Manifest, aside: Path | None,
                 read_control_topic: bool, report: RestoreReport) -> None:
    """Forget again every client forgotten after the backup (vigil/backup/erasures.py)."""
    found = Erasures()
    if aside is not None:
        from_audit_log(aside / AUDIT_LOG, manifest.created_at, found)
    if read_control_topic:
        from_control_topic(settings, manifest.created_at, found)
    else:
        found.problems.append("the control topic was not read (--no-control-topic): only the "
                              "audit log moved aside was searched for erasures")
    report.erased = reapply(settings, found)
    report.notes.extend(found.problems)
    report.notes.append("erasures since the backup searched in: "
                        + ("; ".join(found.sources) or "nothing"))


def read_manifest(tar: tarfile.TarFile, archive: Path) -> Manifest:
    try:
        member = tar.getmember(f"{ROOT}/{MANIFEST_MEMBER}")
    except KeyError:
        raise BackupError(f"{archive} is not a complete Vigil backup: it has no "
                          f"{ROOT}/{MANIFEST_MEMBER}") from None
    handle = tar.extractfile(member)
    if handle is None:
        raise BackupError(f"{MANIFEST_MEMBER} in {archive} is not a file")
    try:
        return Manifest.model_validate_json(handle.read())
    except ValidationError as exc:
        raise BackupError(f"{MANIFEST_MEMBER} in {archive} is not a Vigil backup manifest: "
                          f"{exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None


def _check_engine(settings: Settings, manifest: Manifest) -> None:
    target = "postgresql" if settings.control.user_db_url is not None else "sqlite"
    if manifest.user_db_engine != target:
        where = redact_url(settings.control.user_db_url or str(settings.user_db_path))
        raise BackupError(f"the archive holds a {manifest.user_db_engine} user database but "
                          f"these settings name a {target} one ({where}): set user_db to a "
                          f"{manifest.user_db_engine} database to restore it")


def extract_verified(tar: tarfile.TarFile, manifest: Manifest, staging: Path) -> None:
    """Copy every member into ``staging``, checking names, completeness and sha256."""
    seen: set[str] = set()
    for info in tar:
        if info.name == f"{ROOT}/{MANIFEST_MEMBER}":
            continue
        name = info.name.removeprefix(f"{ROOT}/")
        if not info.name.startswith(f"{ROOT}/") or not is_member_name(name) or \
                not info.isfile():
            raise BackupError(f"archive member {info.name!r} is not one a Vigil backup holds: "
                              "refusing the archive")
        expected = manifest.members.get(name)
        if expected is None or name in seen:
            raise BackupError(f"archive member {name} is not listed (once) in {MANIFEST_MEMBER}:"
                              " the archive was altered; refusing it")
        seen.add(name)
        digest, size = _copy_out(tar, info, staging / name)
        if digest != expected.sha256 or size != expected.bytes:
            raise BackupError(f"archive member {name} does not match its sha256 in "
                              f"{MANIFEST_MEMBER}: the archive is damaged or was altered; "
                              "nothing was restored")
    missing = sorted(set(manifest.members) - seen)
    if missing:
        raise BackupError(f"the archive lacks {len(missing)} member(s) its {MANIFEST_MEMBER} "
                          f"lists, first {missing[0]}: it is incomplete; nothing was restored")


def _copy_out(tar: tarfile.TarFile, info: tarfile.TarInfo, target: Path) -> tuple[str, int]:
    source = tar.extractfile(info)
    assert source is not None  # a regular file, checked by the caller
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    digest, size = hashlib.sha256(), 0
    with source, target.open("xb") as out:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    target.chmod(0o600)
    return digest.hexdigest(), size


def _data_key(settings: Settings, manifest: Manifest, staging: Path,
              force: bool) -> tuple[bytes, str]:
    """The key to restore with, and where it came from; refuses a key of another backup."""
    wanted = manifest.key_fingerprint
    try:
        here: bytes | None = load_key(settings, create=False)
    except CryptoError as exc:
        here, problem = None, str(exc)
    if manifest.key_included:
        key = decode_key((staging / KEY).read_text(), f"{KEY} in the archive")
        if here is not None and key_fingerprint(here) != wanted and (
                settings.deployment.secret_key is not None or not force):
            where = (
                "VIGIL_SECRET_KEY"
                if settings.deployment.secret_key is not None
                else f"{settings.deployment.state_dir / 'secret.key'} (--force moves it aside)"
            )
            raise BackupError(f"this state already has another data key, {where}, fingerprint "
                              f"{key_fingerprint(here)}; the archive's is {wanted}")
        return key, "the archive (--include-key)"
    if here is None:
        raise BackupError(
            f"this archive was made without the data key (fingerprint {wanted}), and there is "
            f"none here ({problem}). Restore needs that key: put it in "
            f"{settings.deployment.state_dir / 'secret.key'} (base64, mode 0600) or set "
            "VIGIL_SECRET_KEY, "
            "then run `vigil restore` again. Without it the embeddings and evidence cannot be "
            "read."
        )
    if key_fingerprint(here) != wanted:
        raise BackupError(f"the data key here (fingerprint {key_fingerprint(here)}) is not the "
                          f"one this backup was made with ({wanted}): provide that key")
    return here, "this machine (VIGIL_SECRET_KEY or STATE_DIR/secret.key)"
