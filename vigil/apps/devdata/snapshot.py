"""A fetched repository snapshot (a bare git directory), read with git and nothing else.

The `fetch` tool puts ``github:owner/name`` at ``MIRROR/owner+name/repo``. Files of 4 MiB or
more are absent from those snapshots (git cannot read their blobs); :meth:`Snapshot.read`
says so by name rather than failing later on empty bytes.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from vigil.core.errors import VigilError


class SnapshotError(VigilError):
    """A snapshot that is missing or cannot be read; the message says what to fetch."""


def snapshot_dir(mirror: Path, repo: str) -> Path:
    """The git directory of ``owner/name``'s snapshot under ``mirror`` (bare, or a clone's)."""
    folder = mirror / repo.replace("/", "+") / "repo"
    return folder / ".git" if (folder / ".git").is_dir() else folder


@dataclass(frozen=True)
class Snapshot:
    """One repository at its fetched HEAD, or at an older commit of its history (a source
    whose pictures were deleted from HEAD)."""

    repo: str
    git_dir: Path
    commit: str

    @classmethod
    def open(cls, mirror: Path, repo: str, revision: str = "HEAD") -> Snapshot:
        """Open ``repo``'s snapshot at ``revision``; :class:`SnapshotError` naming the fetch
        if it is absent."""
        git_dir = snapshot_dir(mirror, repo)
        if not git_dir.is_dir():
            raise SnapshotError(f"no snapshot of {repo} at {git_dir}: run the fetch tool with "
                                f"github:{repo} first")
        commit = _git(git_dir, "rev-parse", f"{revision}^{{commit}}").decode().strip()
        return cls(repo, git_dir, commit)

    def files(self, folder: str) -> list[str]:
        """Paths of the files under ``folder`` (recursive), sorted."""
        out = _git(self.git_dir, "ls-tree", "-r", "--name-only", self.commit, "--", folder)
        return sorted(line for line in out.decode().splitlines() if line)

    def read(self, path: str) -> bytes:
        """The bytes of ``path`` at the snapshot's commit; :class:`SnapshotError` if the blob
        is not there."""
        try:
            return _git(self.git_dir, "cat-file", "blob", f"{self.commit}:{path}")
        except SnapshotError as exc:
            raise SnapshotError(f"{self.repo}: cannot read {path} (absent, or a file of 4 MiB "
                                f"or more that snapshots leave out): {exc.message}") from exc


def _git(git_dir: Path, *args: str) -> bytes:
    done = subprocess.run(["git", "--git-dir", str(git_dir), *args], capture_output=True,
                          check=False)
    if done.returncode != 0:
        raise SnapshotError(f"git {' '.join(args)} in {git_dir} failed: "
                            f"{done.stderr.decode(errors='replace').strip()}")
    return done.stdout
