"""`vigil bench sessions --per-person`: each enrolled person's own verify threshold.

`vigil enroll` sets a client's threshold against a cohort of other people's embeddings
(control/users/thresholds.py): the deployment's other enrolled clients. Without the option the
bench judges every session with the global threshold, as a deployment of one client would.
With it, the cohort of a session is every other person the bench enrolled, **leaving out the
person whose frames are presented** (an impostor's, or the second person of a swap): the
figure then says what happens when a stranger, not an enrolled colleague, sits down. An
enrolled colleague is in the cohort by construction, and the threshold stops just under them.
"""

from __future__ import annotations

import numpy as np

from processors.enroll import threshold_against
from vigil.apps.bench.sessions.scenarios import NOBODY, Presented
from vigil.core.settings import Settings


class OwnThresholds:
    """Per (enrolled person, person left out) the threshold `vigil enroll` would choose."""

    def __init__(self, embeddings: dict[str, np.ndarray], settings: Settings) -> None:
        self._embeddings = embeddings
        self._settings = settings
        self._chosen: dict[tuple[str, str], float] = {}

    def of(self, session: Presented) -> float | None:
        """The threshold ``session`` is judged with; None when nobody is enrolled for it."""
        if session.enrolled == NOBODY or session.enrolled not in self._embeddings:
            return None
        key = (session.enrolled, session.presenter)
        if key not in self._chosen:
            self._chosen[key] = self._choose(*key)
        return self._chosen[key]

    def _choose(self, enrolled: str, left_out: str) -> float:
        own = self._embeddings[enrolled]
        others = [e for person, e in sorted(self._embeddings.items())
                  if person not in (enrolled, left_out)]
        cohort = np.concatenate(others) if others else np.zeros((0, own.shape[1]), own.dtype)
        return threshold_against(self._settings, own, cohort).threshold
