"""`vigil bench sessions --per-person`: own thresholds against the others enrolled, the person
presented left out of the cohort."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vigil.apps.bench.sessions.cohort import OwnThresholds
from vigil.apps.bench.sessions.scenarios import IMPOSTOR, NOBODY, Presented
from vigil.core.settings import load_settings


def unit(*values: float) -> np.ndarray:
    v = np.array(values, dtype=np.float32)
    return (v / np.linalg.norm(v))[None, :]


def session(enrolled: str, presenter: str = NOBODY) -> Presented:
    return Presented(IMPOSTOR, "set", "s", enrolled, (Path("f.jpg"),), presenter=presenter)


def test_a_look_alike_tightens_the_threshold_only_while_it_is_not_the_one_presented(
        tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path)
    ann = np.concatenate([unit(1, 0, 0, 0), unit(1, 0.05, 0, 0)])
    twin = unit(1, 0.5, 0, 0)  # close to ann: 0.46 away
    stranger = unit(0, 0, 1, 0)
    thresholds = OwnThresholds({"set/ann": ann, "set/twin": twin, "set/stranger": stranger},
                               settings)
    global_one = settings.models.verify
    # ann's own session: the twin is in the cohort, so the threshold stops under them (but
    # not under the floor).
    own = thresholds.of(session("set/ann"))
    floor = settings.enroll.identity_threshold_floor * global_one
    assert own is not None and own == max(floor, 0.46 - 0.02) < global_one
    # The twin presented at ann's enrollment: left out, only the stranger remains, far away.
    assert thresholds.of(session("set/ann", "set/twin")) == global_one
    # A session whose person nobody enrolled has no threshold of its own.
    assert thresholds.of(session(NOBODY)) is None
