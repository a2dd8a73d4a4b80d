"""Background work that cannot die silently: a periodic job that survives its own errors, and
a set of such jobs whose health the process reports.

A gateway runs several loops beside its sockets (the outbox drainer, the clients-file watcher,
the upkeep tick). Each used to catch the errors its author foresaw; anything else ended the
task for good while ``/healthz`` still said 200. A :class:`BackgroundLoop` catches every
error of a round, logs it with its traceback, counts it (``vigil_background_errors_total``)
and tries again after a backoff that doubles up to ``max_backoff_s``; :class:`BackgroundTasks`
reports a loop whose task has ended (a bug in the loop itself, or a cancellation nobody
asked for) as unhealthy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from vigil.core import metrics

log = logging.getLogger(__name__)

Round = Callable[[], Awaitable[float | None]]


@dataclass
class BackgroundLoop:
    """Runs ``round`` forever: after a round that returns, waits what it returned (None: the
    loop's ``interval_s``); after a round that raised, waits the backoff and tries again."""

    name: str
    round: Round
    interval_s: float
    first_backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    start_after_s: float = 0.0  # wait before the first round
    failures_in_a_row: int = field(default=0, init=False)
    last_error: str = field(default="", init=False)

    def backoff_s(self) -> float:
        """The wait after the current run of failures: 1, 2, 4, ... capped."""
        steps = max(0, self.failures_in_a_row - 1)
        return float(min(self.max_backoff_s, self.first_backoff_s * 2 ** min(steps, 30)))

    async def run(self) -> None:
        await asyncio.sleep(self.start_after_s)
        while True:
            try:
                wait = await self.round()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every error: a loop that stops is the bug to avoid
                self.failures_in_a_row += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                metrics.BACKGROUND_ERRORS.labels(self.name).inc()
                log.exception("background loop %s failed (%d in a row); retrying in %.0f s",
                              self.name, self.failures_in_a_row, self.backoff_s())
                await asyncio.sleep(self.backoff_s())
                continue
            if self.failures_in_a_row:
                log.info("background loop %s recovered after %d failures", self.name,
                         self.failures_in_a_row)
            self.failures_in_a_row = 0
            await asyncio.sleep(self.interval_s if wait is None else wait)


class BackgroundTasks:
    """The loops of one process, started as tasks; healthy while every one still runs."""

    def __init__(self) -> None:
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, loop: BackgroundLoop) -> asyncio.Task[None]:
        task = asyncio.create_task(loop.run(), name=loop.name)
        self.tasks[loop.name] = task
        return task

    def stopped(self) -> list[str]:
        """The loops whose task has ended: each is a bug, since a loop runs until the
        process cancels it."""
        return sorted(name for name, task in self.tasks.items() if task.done())

    def healthy(self) -> bool:
        return not self.stopped()

    async def cancel(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
