"""Running `vigil up` as a subprocess for a test: its environment and its readiness.

Every address is 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Infra
from tests.stack import up_env as stack_env


def up_env(infra: Infra, namespace: str, state: Path, weights: Path,
           **settings: str) -> dict[str, str]:
    """The shared stack's environment for a `vigil up` of this test alone, plus ``settings``."""
    env = stack_env(infra, namespace, state, weights)
    env.update({f"VIGIL_{key.upper()}": value for key, value in settings.items()})
    return env
