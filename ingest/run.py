"""The gateway as a stage of the table (vigil/core/flow.py): `vigil ingest`.

Serves until stopped (SIGTERM or SIGINT through run_stage), then closes every session (their
slots are released), flushes the frames producer and withdraws its heartbeat.
"""

from __future__ import annotations

import asyncio
import logging

from ingest.gateway import Gateway
from vigil.core.flow_types import Stage, StageIO
from vigil.core.settings import Settings

log = logging.getLogger(__name__)


class GatewayStage:
    """One gateway process: a ``Runnable`` for the stage table."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.gateway: Gateway | None = None  # made inside the event loop, in run()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stop_requested = False

    def run(self) -> int:
        asyncio.run(self._serve())
        return 0

    def stop(self) -> None:
        # Called from a signal handler on the main thread while the loop runs there: hand the
        # request to the loop thread-safely.
        self._stop_requested = True
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    def healthy(self) -> bool:
        return self.gateway is not None and self.gateway.healthy()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self._stop_requested:
            return
        gateway = self.gateway = Gateway(self.settings)
        await gateway.start()
        print(f"gateway listening on {gateway.url} (gateway_id {gateway.gateway_id})",
              flush=True)
        try:
            await self._stop.wait()
        finally:
            log.info("stopping gateway gateway_id=%s", gateway.gateway_id)
            await gateway.stop()


def build(_entry: Stage, settings: Settings, _io: StageIO) -> GatewayStage:
    """The flow table's builder (the gateway runs itself: a Runnable)."""
    return GatewayStage(settings)
