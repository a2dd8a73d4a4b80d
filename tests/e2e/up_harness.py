"""Running `vigil up` as a subprocess for a test: its environment and its readiness.

Every address is 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from tests.conftest import SHARED_WEIGHTS, Infra
from vigil.local.servers import free_port


def up_env(infra: Infra, namespace: str, state: Path, weights: Path,
           **settings: str) -> dict[str, str]:
    """The environment of a `vigil up` of this test alone (own namespace, ports, state)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update({
        "VIGIL_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "VIGIL_REDIS_URL": infra.redis_url,
        "VIGIL_NAMESPACE": namespace,
        "VIGIL_STATE_DIR": str(state),
        "VIGIL_WEIGHTS_DIR": str(weights),
        "VIGIL_WEIGHTS_MIRROR": str(SHARED_WEIGHTS),
        "VIGIL_PARTITIONS": "4",
        "VIGIL_GATEWAY_PORT": str(free_port()),
        "VIGIL_METRICS_PORT_BASE": str(free_port()),
        "VIGIL_SECRET_KEY": base64.b64encode(os.urandom(32)).decode(),
        "VIGIL_MAX_FPS": "30",
        "VIGIL_MAX_IN_FLIGHT": "64",
    })
    env.update({f"VIGIL_{key.upper()}": value for key, value in settings.items()})
    return env
