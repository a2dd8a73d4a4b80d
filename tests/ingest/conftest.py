"""Fixtures of the gateway tests: settings with short timeouts, made per test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Infra, make_settings
from vigil.core.settings import Settings

# Short TTLs and timeouts keep the suite quick on 2 cores. The gateway tests set the capacity
# as a session count (the seed's rule); the measured rule has its own tests
# (tests/control/test_measured_admission.py).
FAST = {"gateway_port": 0, "heartbeat_ttl_s": 1.5, "hello_timeout_s": 1.0,
        "admission_poll_s": 0.1, "metrics_port_base": 0, "admission_rule": "sessions"}

SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_gateway_settings(infra: Infra, namespace: str, tmp_path: Path,
                          weights_dir: Path) -> SettingsFactory:
    """Settings for gateways of this test (one namespace and state folder), with overrides."""
    def make(**overrides: object) -> Settings:
        return make_settings(infra, namespace, tmp_path / "state", weights_dir,
                             **{**FAST, **overrides})
    return make
