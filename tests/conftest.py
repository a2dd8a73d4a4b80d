"""Session fixtures: a real Kafka broker and Redis, and per-test settings.

Where the broker and Redis come from, in order:
1. ``VIGIL_KAFKA_BOOTSTRAP`` and ``VIGIL_REDIS_URL`` in the environment: used as given;
2. a Docker engine that answers: testcontainers starts Apache Kafka and Redis;
3. otherwise the local servers of ``vigil infra`` are started on free ports in a temporary
   state folder, and stopped at the end of the session: one Kafka node, or a cluster of three
   when ``VIGIL_KAFKA_BROKERS=3`` is set (the setting ``vigil infra up`` reads too).

Every test gets its own namespace (so its own topics and Redis keys) and its own group id.
A PostgreSQL server comes the same way (tests/postgres.py); each test that asks for
``postgres_db`` gets a new database on it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from vigil.core.settings import Settings, load_settings

# The `running` fixture: one `vigil up` for the e2e and browser tests.
pytest_plugins = ["tests.stack"]

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIGIL_SHARED", REPO.parent / "shared"))
SHARED_WEIGHTS = SHARED / "weights"
TESTDATA = SHARED / "testdata"


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap: str
    redis_url: str
    source: str  # "environment", "testcontainers" or "local"
    state_dir: Path | None = None  # the local servers' state folder, when started here
    settings: Settings | None = None  # the settings the local servers were started with


def local_infra_settings(state: Path, brokers: int) -> Settings:
    """Settings for local servers on free ports: ``brokers`` Kafka nodes and one Redis."""
    from vigil.local.kafka_cluster import cluster_bootstrap, cluster_nodes
    from vigil.local.servers import port_block

    # Below the ephemeral range: the first nodes' connections to each other must not take a
    # later node's port before it binds (CI saw kafka-3 exit at start-up on such a port).
    first = port_block(2 * brokers + 1)  # node N: port first + 2N, its controller the next
    layout = load_settings(state_dir=state, kafka_bootstrap=f"127.0.0.1:{first}",
                           kafka_controller_port=first + 1, kafka_brokers=brokers)
    return load_settings(state_dir=state, kafka_controller_port=first + 1,
                         kafka_bootstrap=cluster_bootstrap(cluster_nodes(layout)),
                         kafka_brokers=brokers,
                         redis_url=f"redis://127.0.0.1:{first + 2 * brokers}/0")


def _docker_answers() -> bool:
    try:
        import docker  # installed with testcontainers

        docker.from_env(timeout=3).ping()
    except Exception:  # no engine, no socket, no permission: all mean "not available"
        return False
    return True


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    bootstrap = os.environ.get("VIGIL_KAFKA_BOOTSTRAP")
    redis_url = os.environ.get("VIGIL_REDIS_URL")
    if bootstrap and redis_url:
        yield Infra(bootstrap, redis_url, "environment")
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer
        from testcontainers.redis import RedisContainer

        with KafkaContainer().with_kraft() as kafka, RedisContainer() as redis:
            host, port = redis.get_container_host_ip(), redis.get_exposed_port(6379)
            yield Infra(kafka.get_bootstrap_server(), f"redis://{host}:{port}/0",
                        "testcontainers")
        return

    with local_infra(tmp_path_factory.mktemp("infra"), load_settings().kafka.brokers or 1) as up:
        yield up


@contextmanager
def local_infra(state: Path, brokers: int) -> Iterator[Infra]:
    """`vigil infra`'s local servers (``brokers`` Kafka nodes and Redis) on free ports in
    ``state``, stopped on exit."""
    from vigil.local import infra as local

    settings = local_infra_settings(state, brokers)
    try:
        local.infra_up(settings)
        yield Infra(settings.kafka.bootstrap, settings.redis.url, "local", state, settings)
    finally:
        local.infra_down(settings)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The admin URL of a PostgreSQL server for the session (see tests/postgres.py)."""
    from tests import postgres

    url = os.environ.get("VIGIL_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    if _docker_answers():
        from testcontainers.community.postgres import PostgresContainer

        with PostgresContainer("postgres:15", driver=None) as container:
            yield container.get_connection_url()
        return
    bin_dir = postgres.postgres_bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server here: install postgresql-15 (scripts/setup.sh "
                    "does) or set VIGIL_TEST_POSTGRES_URL")
    with postgres.local_server(bin_dir) as admin_url:
        yield admin_url


@pytest.fixture
def postgres_db(postgres_server: str) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database of this test alone."""
    from tests.postgres import fresh_database

    with fresh_database(postgres_server) as url:
        yield url


@pytest.fixture
def namespace() -> str:
    """A namespace of this test alone: its own topics and Redis keys."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def group_id(namespace: str) -> str:
    return f"{namespace}-group"


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder of fetched model files for the whole session (see vision tests)."""
    return tmp_path_factory.mktemp("weights")


def model_cache(weights: Path) -> Path:
    """The session's cache of models converted for OpenVINO, beside its weights folder: every
    `vigil up` and settings of the session share it, so each model is converted once."""
    return weights.parent / "model-cache"


@pytest.fixture(scope="session")
def fetched_weights(weights_dir: Path) -> Path:
    """The session's weights folder once every manifest file is fetched from the mirror."""
    if not SHARED_WEIGHTS.is_dir():
        pytest.skip(f"model weights mirror {SHARED_WEIGHTS} is absent")
    from vigil.core.weights import fetch_weights

    settings = load_settings(weights_dir=weights_dir, weights_mirror=SHARED_WEIGHTS,
                             model_cache_dir=model_cache(weights_dir), device="cpu")
    fetch_weights(settings, progress=False)
    # What `vigil weights prepare` does: convert (and quantize) the configured face models into
    # the session's model cache once, before any stack starts; each stack's face process and
    # enrollment would otherwise do it at the same time, on a loaded machine (a 300 s
    # enrollment timeout was hit that way).
    from processors.vision.chain import FaceChain

    FaceChain.load(settings)
    return weights_dir


def require_testdata() -> Path:
    """The shared test images, or a skip saying they are absent."""
    if not TESTDATA.is_dir():
        pytest.skip(f"test images {TESTDATA} are absent")
    return TESTDATA


def make_settings(infra: Infra, namespace: str, state_dir: Path, weights_dir: Path,
                  **overrides: object) -> Settings:
    """Settings for a test: its infra endpoints, namespace and folders, plus overrides."""
    values: dict[str, object] = {
        "kafka_bootstrap": infra.kafka_bootstrap,
        "redis_url": infra.redis_url,
        "namespace": namespace,
        "state_dir": state_dir,
        "partitions": 4,
        "weights_dir": weights_dir,
        "weights_mirror": SHARED_WEIGHTS if SHARED_WEIGHTS.is_dir() else None,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(infra: Infra, namespace: str, tmp_path: Path, weights_dir: Path) -> Settings:
    return make_settings(infra, namespace, tmp_path / "state", weights_dir)


@pytest.fixture
def topics(settings: Settings) -> Settings:
    """The test's settings after every topic of ARCHITECTURE.md was created."""
    from vigil.core.topics import create_topics

    create_topics(settings)
    return settings
