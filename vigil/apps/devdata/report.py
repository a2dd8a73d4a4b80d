"""SOURCES.md: every source with its repository, commit, licence, paths and counts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vigil.apps.devdata.build import Built, Outcome
from vigil.apps.devdata.catalog import Source

LABEL_ORDER = ("bona_fide", "attack", "phone", "no_phone", "identities")
HEADER = """\
# Development data sources

Built by `vigil devdata build --mirror MIRROR --out OUT` from public GitHub repositories
fetched as snapshots (`fetch github:OWNER/NAME` puts each under `MIRROR/OWNER+NAME/repo`).
This data is not committed to the Vigil repository: licences are mostly unstated, so it
stays outside git and every picture is cited here. To rebuild: fetch every repository below,
then run the build command; sources whose snapshot is missing are skipped and named.

Labels come from each source's own folder names, file names or label files, or where it has
none from looking at the pictures (declared runs, named below), never from a model. Frames
of videos: {clip_frames} spread evenly over each clip go to `frames/<set>/`; sessions keep
about {fps:g} frames a second in capture order (at most {max_frames}); the first {enroll} of
a person's first genuine clip enroll them and are not in their genuine session.
Sources considered and not used, what is missing, and today's defaults on these sets:
docs/data.md in the Vigil repository.
"""


def sources_markdown(outcomes: Sequence[Outcome], *, clip_frames: int, fps: float,
                     max_frames: int, enroll: int) -> str:
    """The whole SOURCES.md text for this build's outcomes."""
    parts = [HEADER.format(clip_frames=clip_frames, fps=fps, max_frames=max_frames,
                           enroll=enroll)]
    parts.append("Fetch: " + " ".join(f"`github:{o.source.repo}`" for o in outcomes) + "\n")
    parts.append(_totals_table(outcomes))
    for outcome in outcomes:
        parts.append(_source_section(outcome.source, outcome))
    return "\n".join(parts)


def _totals_table(outcomes: Sequence[Outcome]) -> str:
    lines = ["## Frame sets\n", "| set | source | " + " | ".join(LABEL_ORDER) + " |",
             "|---|---|" + "---:|" * len(LABEL_ORDER)]
    for outcome in outcomes:
        if outcome.built is None:
            continue
        for name, labels in sorted(outcome.built.frames.items()):
            counts = " | ".join(str(labels.get(label, 0)) for label in LABEL_ORDER)
            lines.append(f"| {name} | {outcome.source.name} | {counts} |")
    return "\n".join(lines) + "\n"


def _source_section(source: Source, outcome: Outcome) -> str:
    built = outcome.built
    lines = [f"## {source.name}\n",
             f"- Repository: https://github.com/{source.repo}",
             f"- Commit: {built.commit if built else 'not built'} ({outcome.status}"
             + (", pinned: a commit of its history, not HEAD" if source.revision != "HEAD"
                else "") + ")",
             f"- Licence: {source.licence}",
             f"- Holds: {source.about}"]
    for pictures in source.pictures:
        lines.append(f"- `{pictures.folder}/` -> frames/{pictures.frame_set}/"
                     f"{', '.join(pictures.labels)}"
                     + (f" (names {pictures.first or '...'} to {pictures.last or '...'})"
                        if pictures.first or pictures.last else "")
                     + (f" (label file class {pictures.yolo_class} only)"
                        if pictures.yolo_class is not None else "")
                     + (f" (every picture evenly, at most {pictures.limit})"
                        if pictures.limit else ""))
    for clip in source.clips:
        note = f"; {clip.note}" if clip.note else ""
        lines.append(f"- `{clip.path}` ({clip.kind}, person `{clip.person}`) -> "
                     f"frames/{clip.frame_set}/ and sessions/{source.name}/{note}")
    for captures in source.captures:
        note = f"; {captures.note}" if captures.note else ""
        lines.append(f"- `{'`, `'.join(captures.folders)}` (captures of `{captures.person}`, "
                     f"labelled by their YOLO files) -> frames/{captures.frame_set}/ and "
                     f"sessions/{source.name}/ ({captures.session_frames}-frame sessions){note}")
    for stills in source.stills:
        note = f"; {stills.note}" if stills.note else ""
        lines.append(f"- `{stills.folder}/` (genuine, person and order from the file name, "
                     f"first {stills.enroll} a person to enroll) -> "
                     f"frames/{stills.frame_set}/bona_fide and sessions/{source.name}/{note}")
    for timed in source.timed:
        for run in timed.runs:
            note = f"; {run.note}" if run.note else ""
            lines.append(f"- `{timed.folder}/{run.first}` to `{run.last}` (genuine, person "
                         f"`{run.person}`, capture-time names) -> sessions/{source.name}/{note}")
    if built is not None:
        lines.extend(_built_lines(built))
    return "\n".join(lines) + "\n"


def _built_lines(built: Built) -> list[str]:
    lines = []
    for name, labels in sorted(built.frames.items()):
        counts = ", ".join(f"{labels[label]} {label}" for label in LABEL_ORDER if label in labels)
        lines.append(f"- frames/{name}: {counts}")
    if built.sessions:
        sessions = ", ".join(f"{n} {folder} ({built.session_frames.get(folder, 0)} frames)"
                             for folder, n in sorted(built.sessions.items()))
        enroll = built.session_frames.get("enroll", 0)
        lines.append(f"- sessions/{built.source}: {sessions}; {enroll} enroll frames")
    lines.append(f"- Picture sizes (frame sets): {_sizes(built.sizes)}")
    if built.left_out:
        lines.append(f"- Left out: {', '.join(built.left_out)}")
    return lines


def _sizes(sizes: dict[str, int]) -> str:
    """The sizes as they are when few, else their range by area and the most common."""
    ranked = sorted(sizes.items(), key=lambda kv: -kv[1])
    if len(ranked) <= 4:
        return ", ".join(f"{size} ({n})" for size, n in ranked)

    def area(size: str) -> int:
        width, height = (int(v) for v in size.split("x"))
        return width * height

    by_area = sorted(sizes, key=area)
    return (f"{len(sizes)} different sizes, from {by_area[0]} to {by_area[-1]} "
            f"({sum(sizes.values())} pictures)")


def write_sources_md(out: Path, text: str) -> Path:
    """Write SOURCES.md into ``out``."""
    path = out / "SOURCES.md"
    path.write_text(text)
    return path
