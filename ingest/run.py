"""Running one gateway process: `vigil ingest` or `python -m ingest`.

Serves until SIGTERM or SIGINT, then closes every session (their slots are released), flushes
the frames producer and withdraws its heartbeat. /metrics and /healthz are served on the given
port (0: off).
"""

from __future__ import annotations

import asyncio
import logging
import signal

from ingest.gateway import Gateway
from vigil.core.metrics import serve_metrics
from vigil.core.settings import Settings

log = logging.getLogger(__name__)


async def serve_gateway(settings: Settings, metrics_port: int) -> None:
    """Run the gateway until a stop signal."""
    gateway = Gateway(settings)
    await gateway.start()
    server = serve_metrics(metrics_port, settings.metrics_host, healthy=gateway.healthy)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(f"gateway listening on {gateway.url} (gateway_id {gateway.gateway_id})", flush=True)
    try:
        await stop.wait()
    finally:
        log.info("stopping gateway gateway_id=%s", gateway.gateway_id)
        await gateway.stop()
        if server is not None:
            server.shutdown()


def run_gateway(settings: Settings, metrics_port: int) -> int:
    asyncio.run(serve_gateway(settings, metrics_port))
    return 0
