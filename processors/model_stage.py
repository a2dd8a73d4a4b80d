"""The one model stage: face and phone are this handler, each with its own inference.

A model stage reads ``frames`` and writes one result per frame to its table entry's output
(processors/batch.py's :class:`FrameStage` does the batch: headers, triage, decoding, the
inference, produce and flush). While it runs, a control follower (its own thread) swaps its
models on ``model-activated`` events and passes other control events to the inference. What
differs between face and phone is only the :class:`Inference` (processors/face.py,
processors/phone.py); the consumer loop, heartbeat and profiling are the runner's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from confluent_kafka import Message

from processors.batch import DecodedFrame, FrameStage, UnprocessedFrame
from processors.model_swap import ActiveReader, ModelSwitcher, follow_control
from processors.triage import FrameTriage, SessionRegistry
from schemas.events import ControlEvent, Event
from vigil.core.flow_types import Stage, StageIO
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
ClientEvents = Callable[[ControlEvent], None]


class Inference(Protocol[E]):
    """A model stage's models: decoded frames in, one result each out."""

    device: str
    switcher: ModelSwitcher

    def __call__(self, frames: list[DecodedFrame]) -> list[E]: ...

    def unprocessed(self, frame: UnprocessedFrame) -> E:
        """The result of a frame the models did not see (bad, stale, session ended)."""
        ...

    def on_client_event(self, event: ControlEvent) -> None:
        """A control event about a client (enrolled, blocked, ...)."""
        ...


class ModelStage(Generic[E]):
    """The handler of a model stage (see the module docstring)."""

    def __init__(self, entry: Stage, settings: Settings, infer: Inference[E], io: StageIO,
                 active: ActiveReader | None = None, triage: FrameTriage | None = None,
                 follow: bool = True) -> None:
        if entry.output is None:
            raise TypeError(f"stage {entry.name}: a model stage needs an output topic")
        self.settings = settings
        self.infer = infer
        self.device = infer.device
        self.active = active
        self.follow = follow
        self.stop = io.stop
        self.triage = triage or FrameTriage(settings, SessionRegistry(settings))
        self.frames = FrameStage(settings, entry.name, entry.output, infer, infer.unprocessed,
                                 io.producer(settings), self.triage)

    def open(self) -> None:
        """Start the control follower (model swaps, client events) on its own thread."""
        if self.follow:
            threading.Thread(target=follow_control, name="control-watch", daemon=True,
                             args=(self.settings, self.infer.switcher, self.stop, self.active,
                                   self.infer.on_client_event)).start()

    def handle(self, batch: list[Message]) -> None:
        """One result per frame, produced and flushed (FrameStage.handle)."""
        self.frames.handle(batch)

    def close(self) -> None:
        """Ends the control follower (it watches the stop event)."""
        self.stop.set()
