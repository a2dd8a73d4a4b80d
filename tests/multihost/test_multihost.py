"""Three hosts, two link cuts: every frame a client sent is decided or refused once, none
twice, and Vigil serves again after each cut (its recovery time in the table printed).

models-link: the model processors' host loses its link for 10 s (to the brokers and Redis);
brokers-link: the brokers' host (Kafka and Redis) loses its link for 10 s, so every other
host loses both. tests/multihost/conftest.py builds the hosts and runs both cuts.
"""

from __future__ import annotations

import pytest

from tests.faults.checks import assert_answered_once
from tests.multihost.conftest import MultiHostRun
from vigil.apps.faults.matrix import STEADY

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

# How a session may end under each cut (the client reconnects): with no live face processor
# for longer than heartbeat_ttl_s, capacity is 0 (control/cluster/admission.py).
SESSION_ENDS = {"models-link": ("1013 capacity withdrawn",),
                "brokers-link": ("1013 capacity withdrawn",)}


@pytest.mark.parametrize("case", [STEADY, "models-link", "brokers-link"])
def test_every_frame_is_answered_once_across_a_link_cut(multihost: MultiHostRun,
                                                        case: str) -> None:
    assert_answered_once(multihost.rows[case], case, multihost.log, SESSION_ENDS)
