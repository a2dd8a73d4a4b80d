"""The words of the flow table (vigil/core/flow.py): a topic, a stage, what a stage's builder
returns, and what the runner hands it.

A :class:`Topic` carries everything a caller and the topic creator need: its name under the
namespace (``FACE_RESULTS.name(settings)``), its serializers, partitions, cleanup policy and
retention. A :class:`Stage` carries what the runner needs: inputs, output, consumer group,
whether it scales and beats for capacity, its batch size, and its builder (``module:function``,
imported only when that stage runs, so ``vigil sink audit`` never imports torch).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from confluent_kafka import Consumer, Message, Producer

from vigil.core.kafka import make_consumer, make_producer
from vigil.core.settings import Settings

S = TypeVar("S")
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
PORT_STRIDE = 16  # replica r of the stage at slot i serves metrics on base + r * 16 + i


# --- topics ---------------------------------------------------------------------------------
class Retention(Enum):
    """How long a topic keeps its records (the first three come from the settings)."""

    FRAMES = "frames"  # raw faces: short (frames_retention_ms, an hour by default)
    RESULTS = "results"  # model results: a day (results_retention_ms)
    AUDIT = "audit"  # decisions and control events: long, for auditors (audit_retention_days)
    HOUR = "hour"  # decide's ticks: stale within seconds, kept an hour for debugging
    UNSET = "unset"  # compacted changelogs and Faust's own: the broker's default applies

    def ms(self, settings: Settings) -> int | None:
        """retention.ms for this class; None when the topic sets none."""
        if self is Retention.FRAMES:
            return settings.kafka.frames_retention_ms
        if self is Retention.RESULTS:
            return settings.kafka.results_retention_ms
        if self is Retention.AUDIT:
            return settings.kafka.audit_retention_days * DAY_MS
        if self is Retention.HOUR:
            return HOUR_MS
        return None


class Cleanup(StrEnum):
    """A topic's cleanup.policy."""

    DELETE = "delete"  # segments older than the retention go
    COMPACT = "compact"  # the latest record of each key stays
    COMPACT_DELETE = "compact,delete"  # the latest per key, and nothing older than retention


class ClientKey:
    """Every flow topic is keyed by client_id, UTF-8 (so one client's records share a
    partition)."""

    @staticmethod
    def dumps(client_id: str) -> bytes:
        return client_id.encode()

    @staticmethod
    def loads(key: bytes | None) -> str:
        return (key or b"").decode(errors="replace")


@dataclass(frozen=True)
class Topic(Generic[S]):
    """One topic: name suffix, serializers, partitions, cleanup, retention, extra config.

    ``owner`` names the Faust app whose internal topic this is: its name is then Faust's,
    ``{ns}-{owner}-{suffix}``, instead of ``{ns}.{suffix}``. ``partitions`` None means the
    flow's count (``settings.partitions``): every keyed topic has it, so one client's frames,
    results and decisions land in partitions with the same number.
    """

    suffix: str
    serializer: S
    retention: Retention
    cleanup: Cleanup = Cleanup.DELETE
    partitions: int | None = None
    config: tuple[tuple[str, str], ...] = ()
    owner: str | None = None
    key: type[ClientKey] = ClientKey

    def name(self, settings: Settings) -> str:
        """The full name under the settings' namespace, e.g. ``vigil.face-results``."""
        if self.owner is not None:
            return f"{settings.deployment.namespace}-{self.owner}-{self.suffix}"
        return settings.topic(self.suffix)

    def partition_count(self, settings: Settings, flow_count: int | None = None) -> int:
        """This topic's partitions: its own, else ``flow_count`` or the settings' count."""
        return self.partitions or flow_count or settings.kafka.partitions

    def topic_config(self, settings: Settings) -> dict[str, str]:
        """cleanup.policy, retention.ms (when it has one) and its extra config."""
        config = {"cleanup.policy": self.cleanup.value, **dict(self.config)}
        retention_ms = self.retention.ms(settings)
        if retention_ms is not None:
            config["retention.ms"] = str(retention_ms)
        return config


# --- stages ---------------------------------------------------------------------------------
class StageKind(Enum):
    """What a stage is; the CLI group that runs it alone follows from it."""

    GATEWAY = "ingest"  # `vigil ingest`
    PROCESSOR = "process"  # `vigil process NAME`: model consumer groups and the decide app
    SINK = "sink"  # `vigil sink NAME`


@runtime_checkable
class Runnable(Protocol):
    """A stage that runs itself (the gateway, the Faust app): run until stopped, stop from a
    signal, say if healthy."""

    def run(self) -> int:
        """Run until stopped; the process exit code."""
        ...

    def stop(self) -> None:
        """Ask ``run`` to return soon (called from a signal handler)."""
        ...

    def healthy(self) -> bool:
        """For /healthz."""
        ...


@runtime_checkable
class Handler(Protocol):
    """A consumer stage's code: handles one batch; the runner polls and commits around it.

    ``handle`` returns only once its output is durable (produced and flushed, fsynced,
    published): the runner commits the batch's offsets right after. ``open`` runs before the
    first batch, ``close`` after the last (:class:`BatchHandler` gives both, doing nothing).
    ``device`` is what the stage runs its models on (heartbeats report it).
    """

    device: str

    def open(self) -> None: ...

    def handle(self, batch: list[Message]) -> None: ...

    def close(self) -> None: ...


class BatchHandler:
    """A base for handlers with nothing to open or close, on the CPU."""

    device = "cpu"

    def open(self) -> None:
        """Nothing to open."""

    def close(self) -> None:
        """Nothing to close."""


@dataclass
class StageIO:
    """What the runner hands a builder: the stop event and the Kafka clients to use.

    The real runner gives confluent-kafka clients; the in-memory harness
    (vigil/testing/harness.py) gives clients of its in-memory topics, so a handler built the
    same way is tested without a broker.
    """

    stop: threading.Event = field(default_factory=threading.Event)
    producer: Callable[..., Producer] = make_producer  # (settings, **overrides)
    consumer: Callable[..., Consumer] = make_consumer  # (settings, group_id, **overrides)


@dataclass(frozen=True)
class Stage:
    """One entry of the stage table; see vigil/core/flow.py."""

    name: str
    kind: StageKind
    builder: str  # "module:function", the function taking (Stage, Settings, StageIO)
    inputs: tuple[Topic[Any], ...] = ()
    output: Topic[Any] | None = None
    scales: bool = False  # `vigil up` runs min..max processes of it (autoscaled)
    beats: bool = False  # heartbeats into Redis while it runs
    capacity: bool = False  # admission's stage: its live processes hold the admitted sessions
    batch_size: Callable[[Settings], int] | None = None  # consumer stages: messages a batch
    batch_deadline_s: Callable[[Settings], float] = lambda _settings: 0.2  # wait for a batch
    description: str = ""
    slot: int = 0  # its place in the table (set by the table): its metrics port

    def group(self, settings: Settings) -> str:
        """The consumer group (and for the Faust app, its app id): ``{ns}-{name}``."""
        return f"{settings.deployment.namespace}-{self.name}"

    @property
    def command(self) -> list[str]:
        """The `vigil` words that run this stage alone."""
        return [self.kind.value] if self.kind is StageKind.GATEWAY else [self.kind.value,
                                                                          self.name]

    def metrics_port(self, settings: Settings, replica: int = 0) -> int:
        """This stage's /metrics port, from its place in the table (0 when metrics are off)."""
        base = settings.observability.metrics_port_base
        return base + replica * PORT_STRIDE + self.slot if base else 0

    def build(self, settings: Settings, io: StageIO | None = None) -> Handler | Runnable:
        """Import the builder and call it: a Handler (consumer stages) or a Runnable."""
        module, function = self.builder.split(":")
        factory: Callable[[Stage, Settings, StageIO], object] = getattr(
            importlib.import_module(module), function)
        built = factory(self, settings, io or StageIO())
        if not isinstance(built, Handler | Runnable):
            raise TypeError(f"stage {self.name}: {self.builder} returned {type(built).__name__}, "
                            "neither a Handler nor a Runnable")
        return built


def numbered(*stages: Stage) -> tuple[Stage, ...]:
    """The table's stages, each knowing its slot (metrics ports follow it)."""
    if len(stages) >= PORT_STRIDE:
        raise ValueError(f"at most {PORT_STRIDE - 1} stages (the last port is the supervisor's)")
    return tuple(Stage(**{**s.__dict__, "slot": i}) for i, s in enumerate(stages))


def inputs_of(stage: Stage, settings: Settings) -> list[str]:
    """The full names of a stage's input topics."""
    return [topic.name(settings) for topic in stage.inputs]



def supervisor_metrics_port(settings: Settings) -> int:
    """`vigil up`'s own /metrics (restarts, processes per stage): the table's last slot."""
    return (
        settings.observability.metrics_port_base + PORT_STRIDE - 1
        if settings.observability.metrics_port_base
        else 0
    )


def process_name(stage_name: str, replica: int) -> str:
    """``face`` for replica 0 of a stage, ``face-1`` for replica 1 ... (pid files, status)."""
    return stage_name if replica == 0 else f"{stage_name}-{replica}"


def stage_of(name: str) -> str:
    """The stage a process name belongs to (``face-2`` -> ``face``)."""
    base, _, replica = name.rpartition("-")
    return base if base and replica.isdigit() else name
