"""The decide stage's Faust worker as a stage of the table (vigil/core/flow.py).

mode's Worker (under Faust) installs its own SIGTERM/SIGINT handlers once it runs, which stop
the app cleanly (offsets committed, producer flushed) and configures logging once for the
process; ``stop`` asks the same thing from outside.
"""

from __future__ import annotations

import logging

import faust

from processors.decide.app import DecideStage
from vigil.core.flow import DECIDE_INTERNAL
from vigil.core.flow_types import Stage, StageIO
from vigil.core.settings import Settings
from vigil.core.topics import create_topics

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
        # Faust creates its internal topics itself, but right before its consumer subscribes:
        # on a fresh KRaft broker a new topic is sometimes not yet in the metadata the group
        # leader sees, Faust logs ``Ignoring missing topic``, and that topic stays unassigned
        # until the next rebalance (minutes away). Created (and seen) first, Faust finds them.
        create_topics(self.settings, DECIDE_INTERNAL)
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


def build(_entry: Stage, settings: Settings, _io: StageIO) -> DecideWorker:
    """The flow table's builder (Faust runs its own loop: a Runnable)."""
    return DecideWorker(settings)
