"""The decide stage's Faust worker as a stage of the table (vigil/core/stages.py).

mode's Worker (under Faust) installs its own SIGTERM/SIGINT handlers once it runs, which stop
the app cleanly (offsets committed, producer flushed) and configures logging once for the
process; ``stop`` asks the same thing from outside.
"""

from __future__ import annotations

import logging

import faust

from processors.decide.app import DecideStage
from processors.decide.internal_topics import ensure_internal_topics
from vigil.core.settings import Settings

log = logging.getLogger(__name__)


class DecideWorker:
    """One decide worker process: a ``Runnable`` for the stage table.

    ``web_port`` is Faust's own web server on 127.0.0.1 (None: ``settings.decide_web_port``;
    0: off). Building raises PolicyError when the policy file is bad.
    """

    def __init__(self, settings: Settings, web_port: int | None = None) -> None:
        self.stage = DecideStage(settings, settings.decide.web_port if web_port is None
                                 else web_port)
        self.settings = settings
        self.worker: faust.Worker | None = None

    def run(self) -> int:
        ensure_internal_topics(self.settings)
        self.worker = faust.Worker(self.stage.app, loglevel=self.settings.deployment.log_level,
                                   quiet=True, redirect_stdouts=False)
        try:
            self.worker.execute_from_commandline()
        except SystemExit as exc:  # execute_from_commandline always ends by raising it
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return 0

    def stop(self) -> None:
        worker = self.worker
        if worker is not None:  # the same path as mode's own SIGTERM handler
            worker.loop.call_soon_threadsafe(worker._on_sigterm)

    def healthy(self) -> bool:
        return self.stage.healthy()


def build(settings: Settings) -> DecideWorker:
    """The stage table's builder."""
    return DecideWorker(settings)
