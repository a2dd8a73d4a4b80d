"""A background loop survives any error of a round, backs off, counts; a set of loops reports
one whose task ended."""

from __future__ import annotations

import asyncio

from vigil.core import metrics
from vigil.core.background import BackgroundLoop, BackgroundTasks


def _errors(name: str) -> float:
    return metrics.BACKGROUND_ERRORS.labels(name)._value.get()


def test_a_round_that_raises_is_logged_counted_and_tried_again() -> None:
    calls: list[int] = []

    async def flaky() -> float:
        calls.append(1)
        if len(calls) <= 3:
            raise RuntimeError(f"failure {len(calls)}")  # not an error anyone foresaw
        return 0.0

    loop = BackgroundLoop("test-flaky", flaky, interval_s=0.0, first_backoff_s=0.01)
    before = _errors("test-flaky")

    async def scenario() -> None:
        tasks = BackgroundTasks()
        tasks.start(loop)
        for _ in range(200):
            await asyncio.sleep(0.01)
            if len(calls) >= 6:
                break
        assert tasks.healthy()
        await tasks.cancel()

    asyncio.run(scenario())
    assert len(calls) >= 6
    assert _errors("test-flaky") == before + 3
    assert loop.failures_in_a_row == 0 and loop.last_error == "RuntimeError: failure 3"


def test_the_backoff_doubles_up_to_its_cap() -> None:
    async def never() -> None:
        return None

    loop = BackgroundLoop("test-backoff", never, 1.0, first_backoff_s=1.0, max_backoff_s=30.0)
    waits = []
    for failures in range(1, 9):
        loop.failures_in_a_row = failures
        waits.append(loop.backoff_s())
    assert waits == [1, 2, 4, 8, 16, 30, 30, 30]


def test_a_loop_whose_task_ended_makes_the_set_unhealthy() -> None:
    async def scenario() -> list[str]:
        tasks = BackgroundTasks()

        async def forever() -> None:
            await asyncio.sleep(3600)

        tasks.start(BackgroundLoop("kept", forever, 1.0))
        ended = tasks.start(BackgroundLoop("ended", forever, 1.0))
        await asyncio.sleep(0)
        assert tasks.healthy()
        ended.cancel()  # as if a bug (or a stray cancel) ended it
        await asyncio.sleep(0)
        stopped = tasks.stopped()
        await tasks.cancel()
        return stopped

    assert asyncio.run(scenario()) == ["ended"]
