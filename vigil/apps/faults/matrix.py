"""One run of the fault matrix, and what became of the frames of each case.

The clients stream through the whole run. First they reach a steady state (each has a
decision); then, one case at a time: ``before_s`` of streaming, the fault, a wait until the
broken part serves again (its process restarted and healthy, Redis answering, the stack
ready), every client has a decision for a frame sent after the fault, and a restarted sink
wrote for such a frame (the recovery time; bounded by ``recovery_timeout_s``), and
``after_s`` more. A decision may be ``incomplete`` (a half missing at the decide deadline):
it still answers its frame. At the end the clients stop sending and the run waits (bounded)
for the frames still open. A frame belongs to the case during which it was sent, or, when
its session ended before an answer (cut), to the case during which that happened: the fault
that cut it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from vigil.apps.faults.client import FrameFate, SteadyClient
from vigil.apps.faults.stack import Fault

log = logging.getLogger(__name__)

STEADY = "steady"  # the frames before the first fault
POLL_S = 0.25
CLOSE_TIMEOUT_S = 30.0  # for the clients to close their sessions at the end
CaughtUp = Callable[[str, list[FrameFate]], bool]  # case, frames decided since its fault


@dataclass(frozen=True)
class Phases:
    """How long each part of a case lasts (seconds)."""

    before_s: float = 6.0
    after_s: float = 10.0
    recovery_timeout_s: float = 120.0
    steady_timeout_s: float = 120.0
    settle_timeout_s: float = 60.0


@dataclass
class CaseWindow:
    name: str
    start: float  # epoch seconds: frames sent from here belong to this case
    fault_at: float = 0.0
    recovery_s: float | None = None  # None: not recovered within the timeout


@dataclass
class CaseCount:
    """The frames of one case by what became of them (one row of the table)."""

    case: str
    frames: int = 0
    decided: int = 0
    errors: int = 0
    cut: int = 0
    lost: int = 0
    duplicated: int = 0
    recovery_s: float | None = None
    how: Counter[str] = field(default_factory=Counter)  # error codes and session ends
    audit_missing: int = 0  # decisions on the topic without exactly one audit line
    evidence_missing: int = 0  # non-allow decisions without evidence


def _fresh(clients: Sequence[SteadyClient], since: float) -> list[FrameFate]:
    return [f for c in clients for f in c.fates.values() if f.sent_at >= since and f.decisions]


def _every_client_decided(clients: Sequence[SteadyClient], since: float) -> bool:
    return all(any(f.sent_at >= since and f.decisions for f in c.fates.values())
               for c in clients)


async def _until(check: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_S)
    return True


async def _case(fault: Fault, clients: Sequence[SteadyClient], phases: Phases,
                caught_up: CaughtUp) -> CaseWindow:
    window = CaseWindow(fault.name, time.time())
    await asyncio.sleep(phases.before_s)
    window.fault_at = time.time()
    log.info("case %s: fault", fault.name)
    await asyncio.to_thread(fault.inject)

    def recovered() -> bool:
        return (fault.back() and _every_client_decided(clients, window.fault_at)
                and caught_up(fault.name, _fresh(clients, window.fault_at)))

    if await _until(recovered, phases.recovery_timeout_s):
        window.recovery_s = time.time() - window.fault_at
    log.info("case %s: recovered in %s s", fault.name, window.recovery_s)
    await asyncio.sleep(phases.after_s)
    return window


async def run_matrix(clients: Sequence[SteadyClient], faults: Sequence[Fault], phases: Phases,
                     caught_up: CaughtUp) -> list[CaseWindow]:
    """Stream through every fault in turn; returns each case's window (steady state first)."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(c.run(stop), name=f"client-{c.client_id}") for c in clients]
    try:
        windows = [CaseWindow(STEADY, time.time())]
        if not await _until(lambda: _every_client_decided(clients, 0.0),
                            phases.steady_timeout_s):
            raise RuntimeError(f"no decisions within {phases.steady_timeout_s:.0f} s of "
                               "streaming: Vigil is not serving")
        for fault in faults:
            windows.append(await _case(fault, clients, phases, caught_up))
        for client in clients:
            client.stop_sending()
        await _until(lambda: not any(c.unanswered() for c in clients), phases.settle_timeout_s)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), CLOSE_TIMEOUT_S)
    return windows


def count_cases(windows: Sequence[CaseWindow], clients: Sequence[SteadyClient]
                ) -> list[CaseCount]:
    """One row per case: each frame counted once, by what became of it."""
    rows = [CaseCount(w.name, recovery_s=w.recovery_s) for w in windows]
    for client in clients:
        for fate in client.fates.values():
            at = fate.cut_at if fate.cut_by and not fate.answered else fate.sent_at
            _count(rows[max(i for i, w in enumerate(windows) if w.start <= at)], fate)
    return rows


def _count(row: CaseCount, fate: FrameFate) -> None:
    row.frames += 1
    if fate.decisions:
        row.decided += 1
        row.duplicated += len(fate.decisions) > 1
    elif fate.errors:
        row.errors += 1
        row.how.update(f"error {code}" for code in fate.errors[:1])
    elif fate.cut_by:
        row.cut += 1
        row.how[f"closed {fate.cut_by}"] += 1
    else:
        row.lost += 1


def case_of(windows: Sequence[CaseWindow], sent_at: float) -> str:
    return windows[max(i for i, w in enumerate(windows) if w.start <= sent_at)].name


HEADER = ("case", "frames", "decided", "errors", "cut", "lost", "duplicated", "audit ok",
          "evidence ok", "recovery s")


def table(rows: Sequence[CaseCount]) -> list[str]:
    """The summary table, then how the errors and cut frames ended, case by case."""
    lines = ["  ".join(f"{h:>10}" for h in HEADER)]
    for r in rows:
        recovery = "-" if r.case == STEADY else (
            f"{r.recovery_s:.1f}" if r.recovery_s is not None else "no")
        cells = (r.case, r.frames, r.decided, r.errors, r.cut, r.lost, r.duplicated,
                 "yes" if not r.audit_missing else f"{r.audit_missing} bad",
                 "yes" if not r.evidence_missing else f"{r.evidence_missing} missing",
                 recovery)
        lines.append("  ".join(f"{c:>10}" for c in cells))
    for r in rows:
        if r.how:
            lines.append(f"{r.case}: " + ", ".join(f"{n} {how}" for how, n in
                                                   sorted(r.how.items())))
    return lines
