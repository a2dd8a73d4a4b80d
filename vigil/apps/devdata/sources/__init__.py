"""Every source the builder knows, in build order (one module per repository or recipe)."""

from vigil.apps.devdata.catalog import Source
from vigil.apps.devdata.sources import (
    capstone_selfies,
    nhtlongcs,
    office_stills,
    phones,
    piiyush,
    pourfard,
    recipe_crops,
    replay_videos,
    rounak,
    shubhamlala,
)

SOURCES: tuple[Source, ...] = (
    pourfard.SOURCE,
    shubhamlala.SOURCE,
    nhtlongcs.SOURCE,
    replay_videos.ZUBAIR,
    replay_videos.LESTARI,
    replay_videos.LUYT,
    replay_videos.MANIKANTHA,
    replay_videos.KRZYSIEK,
    replay_videos.APFOLCAM,
    replay_videos.ASHISH,
    *recipe_crops.RECIPE_CROPS,
    phones.AITKHERIMED,
    phones.ADITYARALHAN,
    office_stills.SOURCE,
    capstone_selfies.SOURCE,
    rounak.SOURCE,
    piiyush.SOURCE,
)


def _check_unique(sources: tuple[Source, ...]) -> None:
    """Two sources never share a name or a frame set (a build replaces a set whole)."""
    names = [s.name for s in sources]
    sets = [f for s in sources for f in s.frame_sets]
    for kind, values in (("source name", names), ("frame set", sets)):
        repeated = {v for v in values if values.count(v) > 1}
        if repeated:
            raise ValueError(f"{kind} used twice: {sorted(repeated)}")


_check_unique(SOURCES)
