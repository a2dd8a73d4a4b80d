"""`vigil backup FILE [--include-key]` and `vigil restore FILE [--force]`."""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path

from vigil.backup.manifest import Manifest
from vigil.core.settings import load_settings

KEY_WARNING = """\
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!! THIS ARCHIVE HOLDS THE DATA KEY (--include-key).                                        !!
!! Anyone who has the file can decrypt every enrolled face embedding and evidence image.   !!
!! Keep it as you keep the key itself: encrypted storage, few people, never beside a copy  !!
!! made without the key.                                                                   !!
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"""


def _config_file(args: argparse.Namespace) -> Path | None:
    given = args.config or os.environ.get("VIGIL_CONFIG")
    return Path(given) if given else None


def _summary(manifest: Manifest) -> str:
    audit = f"{manifest.audit_lines} audit lines" + (
        f" (NOT intact: {manifest.audit_problem})" if manifest.audit_problem else "")
    vanished = (f", {manifest.evidence_vanished} purged while it ran"
                if manifest.evidence_vanished else "")
    return (f"{len(manifest.members)} members: {manifest.clients} clients "
            f"({manifest.user_db_engine}), {audit}, {manifest.evidence_items} evidence items"
            f"{vanished}; data key {manifest.key_fingerprint} "
            f"{'INCLUDED' if manifest.key_included else 'not included'}")


def _backup(args: argparse.Namespace) -> int:
    from vigil.backup.archive import write_backup

    settings = load_settings(args.config)
    manifest = write_backup(settings, args.file, _config_file(args), args.include_key)
    print(f"wrote {args.file}: {_summary(manifest)}")
    if manifest.key_included:
        print(KEY_WARNING, file=sys.stderr)
    else:
        print(f"the data key (fingerprint {manifest.key_fingerprint}) is NOT in the archive: "
              "keep it apart (STATE_DIR/secret.key or VIGIL_SECRET_KEY); a restore needs it")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from vigil.backup.restore import restore_backup

    settings = load_settings(args.config)
    report = restore_backup(settings, args.file, args.force,
                            read_control_topic=not args.no_control_topic)
    made = datetime.datetime.fromtimestamp(report.manifest.created_at / 1000, datetime.UTC)
    print(f"restored {args.file} (made {made:%Y-%m-%d %H:%M:%S} UTC, namespace "
          f"{report.manifest.namespace}); data key from {report.key_source}")
    for line in report.placed:
        print(f"  {line}")
    print(f"clients forgotten after the backup, erased again: {len(report.erased)}")
    for line in report.erased:
        print(f"  {line}")
    for note in report.notes:
        print(f"note: {note}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``backup`` and ``restore`` to the ``vigil`` command."""
    backup = sub.add_parser("backup", help="write the state (user database, audit log, "
                            "evidence, policy, settings, weights manifest) to one archive")
    backup.add_argument("file", type=Path, metavar="FILE", help="the tar archive to write")
    backup.add_argument("--include-key", action="store_true",
                        help="also put the data key in the archive (then the archive alone "
                        "decrypts everything: keep it like the key)")
    backup.set_defaults(handler=_backup)

    restore = sub.add_parser("restore", help="check an archive and restore it into the state "
                             "folder (stop Vigil first)")
    restore.add_argument("file", type=Path, metavar="FILE")
    restore.add_argument("--force", action="store_true",
                         help="replace existing clients, audit log and evidence (moved to "
                         "STATE_DIR/replaced-TIME/)")
    restore.add_argument("--no-control-topic", action="store_true",
                         help="do not read the control topic for clients forgotten after the "
                         "backup (Kafka unreachable): only the audit log moved aside by "
                         "--force is searched, and the report says so")
    restore.set_defaults(handler=_restore)
