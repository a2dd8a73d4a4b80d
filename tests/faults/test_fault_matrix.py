"""The fault matrix: under each single failure, every frame a client sent is answered once.

For every case (tests/faults/conftest.py runs them all through one `vigil up`): each frame
gets exactly one decision, or an error naming it, or the close of its session (a code the
client acts on by reconnecting); none is lost, none answered twice; every decision on the
topic has exactly one audit line, every non-allow decision its evidence; and the broken part
serves again.
"""

from __future__ import annotations

import pytest

from tests.faults.checks import assert_answered_once
from tests.faults.conftest import MatrixRun
from vigil.apps.faults.matrix import STEADY
from vigil.apps.faults.stack import CASES, STACK_CASE

# The only cases that may end a session, and how the client is told (it reconnects):
# a SIGKILLed gateway's sockets die with it; a stopping gateway answers what it can within
# gateway_drain_s, then closes with 1001. Every other fault leaves sessions open — a killed
# face processor too: `vigil up` holds its capacity while it restarts
# (vigil/apps/capacity_hold.py), where it used to be withdrawn (1013) after heartbeat_ttl_s.
SESSION_ENDS = {"gateway": ("1006 connection lost",),
                STACK_CASE: ("1001 the gateway is stopping",)}

# One `vigil up` and ten faults, each with a process restart: minutes on a 2-core machine,
# more when it is shared. Every wait inside is bounded (tests/faults/conftest.py PHASES).
pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(1800)]


@pytest.mark.parametrize("case", [STEADY, *CASES])
def test_every_frame_is_answered_exactly_once(matrix: MatrixRun, case: str) -> None:
    if case in matrix.skipped:
        pytest.skip(matrix.skipped[case])
    assert_answered_once(matrix.rows[case], case, matrix.log, SESSION_ENDS)
