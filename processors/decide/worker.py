"""Running the decide stage's Faust worker in the current process."""

from __future__ import annotations

import logging

import faust

from processors.decide.app import DecideStage
from processors.decide.internal_topics import ensure_internal_topics
from vigil.core.metrics import serve_metrics
from vigil.core.settings import Settings

log = logging.getLogger(__name__)


def run_decide(settings: Settings, metrics_port: int = 0, web_port: int | None = None) -> int:
    """Run the decide worker until SIGTERM or SIGINT; returns the process exit code.

    ``metrics_port`` serves /metrics and /healthz on ``settings.metrics_host`` (0: off).
    ``web_port`` is Faust's own web server on 127.0.0.1 (None: ``settings.decide_web_port``;
    0: off). Raises PolicyError when the policy file is bad at start.
    """
    stage = DecideStage(settings, settings.decide_web_port if web_port is None else web_port)
    ensure_internal_topics(settings)
    server = serve_metrics(metrics_port, settings.metrics_host, healthy=stage.healthy)
    # mode's Worker installs the SIGTERM/SIGINT handlers that stop the app cleanly (offsets
    # committed, producer flushed) and configures logging once for the process.
    worker = faust.Worker(stage.app, loglevel=settings.log_level, quiet=True,
                          redirect_stdouts=False)
    code: int = 0
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:  # execute_from_commandline always ends by raising it
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        if server is not None:
            server.shutdown()
    log.info("decide worker stopped exit_code=%d", code)
    return code
