"""Kafka: the brokers, and the partitions, replication and retention of every topic."""

from __future__ import annotations

from pydantic import Field, field_validator

from vigil.core.settings.base import Area


class KafkaSettings(Area):
    """The Kafka cluster and the topics Vigil creates."""

    bootstrap: str = Field(
        "127.0.0.1:9092",
        min_length=3,
        validation_alias="kafka_bootstrap",
        description="Kafka bootstrap servers, comma-separated host:port. The local broker "
        "started by `vigil infra up` listens on the port of the first entry.",
    )
    controller_port: int = Field(
        9093, ge=1024, le=65535, validation_alias="kafka_controller_port",
        description="KRaft controller port of the first local node "
        "(node N, counted from 0, uses this port + 2N)."
    )
    brokers: int | None = Field(
        None, ge=1, le=5, validation_alias="kafka_brokers",
        description="Kafka nodes `vigil infra up` runs on 127.0.0.1, each a "
        "KRaft broker and controller with its own data folder: 1, or 3 for a quorum that "
        "survives the loss of one. Node N (from 0) listens on the Nth kafka_bootstrap port, or "
        "on the first one + 2N when fewer are listed. None: one node per kafka_bootstrap "
        "address."
    )
    partitions: int = Field(
        12, ge=1, le=1000, description="Partition count of every topic (bounds parallelism)."
    )
    replication_factor: int | None = Field(
        None, ge=1, le=7, description="Replication factor of every topic Vigil creates. None: "
        "from the brokers the cluster reports, 3 on three or more, else their count. "
        "min.insync.replicas is one less (at least 1): 2 of 3 copies must have every write."
    )
    frames_retention_ms: int = Field(
        3_600_000, ge=60_000, le=7 * 86_400_000,
        description="How long raw frames (and dead-lettered frames) stay on Kafka. Raw faces "
        "are the most sensitive data here: the evidence sink copies what it keeps, encrypted, "
        "within seconds, so an hour is plenty.",
    )
    results_retention_ms: int = Field(
        86_400_000, ge=60_000, le=365 * 86_400_000,
        description="How long face and phone results stay on Kafka (replay for a day).",
    )
    audit_retention_days: int = Field(
        400, ge=1, le=3650,
        description="Days the decisions and control topics are kept, for auditors.",
    )

    @field_validator("bootstrap")
    @classmethod
    def _check_bootstrap(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"expected host:port[,host:port...], got {server!r}")
        return value

    @property
    def ports(self) -> list[int]:
        """The port of every bootstrap address, in order."""
        return [int(server.rsplit(":", 1)[1]) for server in self.bootstrap.split(",")]

    @property
    def port(self) -> int:
        """The port of the first bootstrap address."""
        return self.ports[0]

    @property
    def local_nodes(self) -> int:
        """How many nodes `vigil infra up` runs (brokers, else one per address)."""
        return self.brokers or len(self.ports)
