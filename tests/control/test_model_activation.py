"""`vigil weights activate`: a clear error for an unknown role or name; an activation made
while Redis and Kafka are down is stored and waits in the outbox; `vigil weights active`
shows it."""

from __future__ import annotations

from pathlib import Path

import pytest

from control.users.repository import open_repository
from processors.vision.registry import ACTIVATABLE, REGISTRY, configured_name
from schemas.events import DEPLOYMENT_KEY, ControlKind
from tests.control.test_enroll import run_cli
from vigil.core.flow import CONTROL
from vigil.core.settings import load_settings
from vigil.local.servers import free_port


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, user_db: str) -> Path:
    """The CLI's environment: this test's user database, Redis and Kafka down."""
    for name, value in {"STATE_DIR": str(tmp_path / "state"), "USER_DB": user_db,
                        "KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
                        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
                        "OUTBOX_DELIVERY_TIMEOUT_S": "1"}.items():
        monkeypatch.setenv(f"VIGIL_{name}", value)
    return tmp_path


@pytest.mark.parametrize(("role", "name", "says"), [
    ("liveness", "minifasnet", "no activatable role 'liveness'; roles: " + ", ".join(ACTIVATABLE)),
    ("face_embedder", "facenet", "enrolled embeddings belong to it"),
    ("phone_detector", "nope", "no phone_detector plug-in named 'nope'; known: "
     + ", ".join(sorted(REGISTRY["phone_detector"]))),
])
def test_an_unknown_role_or_name_is_refused_with_the_valid_ones(
        offline: Path, capsys: pytest.CaptureFixture[str], role: str, name: str,
        says: str) -> None:
    assert run_cli("weights", "activate", role, name) == 1
    assert says in capsys.readouterr().err


def test_an_activation_while_kafka_is_down_is_stored_and_waits_in_the_outbox(
        offline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings()
    role = "liveness_model"
    name = sorted(set(REGISTRY[role]) - {configured_name(settings, role)})[0]
    assert run_cli("weights", "activate", role, name, "--actor", "ops-ann") == 0
    out, err = capsys.readouterr()
    assert f"{role}: {name} activated" in out
    assert "The change is stored in the user database; Kafka gets it when it is back" in err
    repo = open_repository(settings)
    try:
        assert repo.active_models() == {role: name}
        [entry] = repo.outbox_pending(10)
    finally:
        repo.close()
    event = CONTROL.serializer.loads(entry.event)
    assert (entry.client_id, event.client_id, event.kind) == (
        DEPLOYMENT_KEY, DEPLOYMENT_KEY, ControlKind.MODEL_ACTIVATED)
    assert event.activation is not None and event.actor == "ops-ann"
    assert (event.activation.role, event.activation.name) == (role, name)

    assert run_cli("weights", "active") == 0
    listed = capsys.readouterr().out.splitlines()
    assert f"{role:<15} {name:<18} (activated)" in listed
    assert any(line.startswith("phone_detector") and "(setting)" in line for line in listed)
    # Activating it again stores nothing new but announces it again (a failed load retries).
    assert run_cli("weights", "activate", role, name) == 0
    assert "was active already; announced again" in capsys.readouterr().out
