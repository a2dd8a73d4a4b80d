"""Model weight files: the manifest, `vigil weights fetch` and `vigil weights verify`.

``weights/manifest.toml`` names every file with its size and sha256. Fetch copies a file from
the offline mirror (setting ``weights_mirror``) or, failing that, downloads it from the
entry's ``url``; either way it lands in ``settings.weights_path`` only once its sha256 checks.
Loading goes through :func:`require_weight`, so a missing or corrupt file is a startup error
naming the file and the command that fixes it, never a silent fallback to random weights.
Inside :func:`recording_weights` it also notes each file it hands out, so a plug-in's version
names the exact files it loaded (:func:`files_digest`).
"""

from __future__ import annotations

import hashlib
import logging
import tomllib
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from vigil.core.errors import VigilError
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

MANIFEST = Path(__file__).resolve().parents[2] / "weights" / "manifest.toml"
FIX_HINT = "run `vigil weights fetch`"
_CHUNK = 1 << 20


class WeightsError(VigilError, RuntimeError):
    """A weight file is missing, corrupt, unknown to the manifest or could not be fetched."""


@dataclass(frozen=True)
class WeightFile:
    """One manifest entry."""

    name: str
    bytes: int
    sha256: str
    licence: str
    source: str
    model: str = ""
    url: str | None = None
    # An optional file serves only a plug-in that is not the default: fetch and verify report
    # it absent instead of failing, and the plug-in that needs it fails at load, naming it.
    optional: bool = False


@dataclass(frozen=True)
class WeightStatus:
    """The outcome of fetching or verifying one file; ``ok`` False means ``detail`` says why."""

    name: str
    ok: bool
    detail: str


# The files require_weight handed out inside recording_weights() (per thread), else None.
_RECORDED: ContextVar[list[WeightFile] | None] = ContextVar("vigil_weights_recorded",
                                                            default=None)


@contextmanager
def recording_weights() -> Iterator[list[WeightFile]]:
    """The manifest entries :func:`require_weight` hands out inside (on this thread)."""
    used: list[WeightFile] = []
    token = _RECORDED.set(used)
    try:
        yield used
    finally:
        _RECORDED.reset(token)


def files_digest(entries: Sequence[WeightFile]) -> str:
    """A short name for exactly these files: the first 8 hex digits of the one file's sha256
    (as the manifest lists it), or of the sha256 of several files' sorted sha256s."""
    hashes = sorted({e.sha256 for e in entries})
    if not hashes:
        raise ValueError("no weight files to digest")
    if len(hashes) == 1:
        return hashes[0][:8]
    return hashlib.sha256("\n".join(hashes).encode()).hexdigest()[:8]


def load_manifest(path: Path = MANIFEST) -> dict[str, WeightFile]:
    """Read the manifest into entries by file name."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise WeightsError(f"cannot read weights manifest {path}: {exc}") from exc
    entries: dict[str, WeightFile] = {}
    for raw in data.get("file", []):
        try:
            entry = WeightFile(**raw)
        except TypeError as exc:
            raise WeightsError(f"bad entry in {path}: {raw!r}: {exc}") from exc
        entries[entry.name] = entry
    return entries


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_file(path: Path, entry: WeightFile) -> str | None:
    """Why ``path`` is not a good copy of ``entry``, or None when size and sha256 match."""
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    if size != entry.bytes:
        return f"size {size} bytes, expected {entry.bytes}"
    actual = sha256_of(path)
    if actual != entry.sha256:
        return f"sha256 {actual}, expected {entry.sha256}"
    return None


def require_weight(settings: Settings, name: str, manifest: Path = MANIFEST) -> Path:
    """The path of a verified weight file, or a WeightsError naming it and the fix."""
    entries = load_manifest(manifest)
    entry = entries.get(name)
    if entry is None:
        raise WeightsError(f"weights file {name!r} is not listed in {manifest}")
    path = settings.weights.path / name
    problem = check_file(path, entry)
    if problem is not None:
        raise WeightsError(f"weights file {path} is {problem}: {FIX_HINT}")
    recorded = _RECORDED.get()
    if recorded is not None:
        recorded.append(entry)
    return path


def verify_weights(settings: Settings, manifest: Path = MANIFEST) -> list[WeightStatus]:
    """Check every manifest file in the weights folder: present, right size, right sha256."""
    statuses = []
    for entry in load_manifest(manifest).values():
        problem = check_file(settings.weights.path / entry.name, entry)
        if problem == "missing" and entry.optional:
            statuses.append(WeightStatus(entry.name, True, "absent (optional)"))
            continue
        statuses.append(WeightStatus(entry.name, problem is None, problem or "ok"))
    return statuses


def fetch_weights(
    settings: Settings,
    names: Iterable[str] | None = None,
    manifest: Path = MANIFEST,
    progress: bool = True,
) -> list[WeightStatus]:
    """Copy (from the mirror) or download every file not already good; raise on a failure."""
    entries = load_manifest(manifest)
    wanted = list(names) if names is not None else list(entries)
    target_dir = settings.weights.path
    target_dir.mkdir(parents=True, exist_ok=True)
    statuses = []
    for name in wanted:
        entry = entries.get(name)
        if entry is None:
            raise WeightsError(f"weights file {name!r} is not listed in {manifest}")
        target = target_dir / name
        if check_file(target, entry) is None:
            statuses.append(WeightStatus(name, True, "already present"))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)  # a model folder (OpenVINO IR)
        if entry.optional and not _fetchable(entry, settings.weights.mirror):
            log.warning("weights file=%s optional, not in the mirror and no url: skipped",
                        entry.name)
            statuses.append(WeightStatus(name, True, "absent (optional: not in the mirror)"))
            continue
        origin = _fetch_one(entry, settings.weights.mirror, target, progress)
        statuses.append(WeightStatus(name, True, origin))
    return statuses


def _fetchable(entry: WeightFile, mirror: Path | None) -> bool:
    """Whether the mirror holds the file or the entry has a url to try."""
    return bool(entry.url) or (mirror is not None and (mirror / entry.name).is_file())


def _fetch_one(entry: WeightFile, mirror: Path | None, target: Path, progress: bool) -> str:
    partial = target.with_name(target.name + ".partial")
    mirrored = mirror / entry.name if mirror is not None else None
    try:
        if mirrored is not None and mirrored.is_file():
            origin = f"copied from {mirrored}"
            with mirrored.open("rb") as source:
                _copy_with_progress(source, partial, entry, progress)
        elif entry.url:
            origin = f"downloaded from {entry.url}"
            try:
                with urllib.request.urlopen(entry.url, timeout=60) as response:
                    _copy_with_progress(response, partial, entry, progress)
            except OSError as exc:  # URLError, HTTPError and timeouts are all OSError
                raise WeightsError(
                    f"download of {entry.name} from {entry.url} failed: {exc}"
                ) from exc
        else:
            where = f"mirror {mirror}" if mirror is not None else "no mirror configured"
            raise WeightsError(
                f"weights file {entry.name} is not in the {where} and has no download url; "
                "set VIGIL_WEIGHTS_MIRROR to a folder holding it"
            )
        problem = check_file(partial, entry)
        if problem is not None:
            raise WeightsError(f"fetched {entry.name} ({origin}) is corrupt: {problem}")
        partial.replace(target)  # atomic: a reader never sees half a file
    finally:
        partial.unlink(missing_ok=True)
    log.info("weights file=%s %s", entry.name, origin)
    return origin


def _copy_with_progress(source: BinaryIO, dest: Path, entry: WeightFile, progress: bool) -> None:
    with (
        dest.open("wb") as out,
        tqdm(total=entry.bytes, unit="B", unit_scale=True, desc=entry.name,
             disable=not progress, leave=False) as bar,
    ):
        while chunk := source.read(_CHUNK):
            out.write(chunk)
            bar.update(len(chunk))

