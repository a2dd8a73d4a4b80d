"""The decide worker says it is healthy (so `vigil up` says ready) only once its tables are
recovered: before that it decides nothing, and clients' first frames would wait."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from processors.decide.app import DecideStage
from vigil.core.flow import DECIDE_CHANGELOGS, DECIDE_INTERNAL
from vigil.core.settings import load_settings


def _stage(started: bool, crashed: bool, recovered: bool) -> SimpleNamespace:
    flag = threading.Event()
    if recovered:
        flag.set()
    return SimpleNamespace(app=SimpleNamespace(started=started, crashed=crashed),
                           recovered=flag)


def test_healthy_only_after_the_tables_recovered() -> None:
    def healthy(stage: SimpleNamespace) -> bool:
        return DecideStage.healthy(stage)  # type: ignore[arg-type]

    assert healthy(_stage(started=True, crashed=False, recovered=True))
    assert not healthy(_stage(started=True, crashed=False, recovered=False))  # recovering
    assert not healthy(_stage(started=False, crashed=False, recovered=True))
    assert not healthy(_stage(started=True, crashed=True, recovered=True))


def test_changelogs_are_compacted_within_minutes() -> None:
    settings = load_settings(namespace="health")
    changelogs = [t for t in DECIDE_INTERNAL if t.name(settings).endswith("-changelog")]
    assert changelogs == list(DECIDE_CHANGELOGS) and len(changelogs) == 3
    for topic in changelogs:
        config = topic.topic_config(settings)
        assert config["cleanup.policy"] == "compact"
        assert int(config["segment.ms"]) <= 600_000 == int(config["delete.retention.ms"])
