"""Local server management errors are clear: which server, which port, which log."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.core.settings import load_settings
from vigil.local.servers import InfraError, LocalServer, free_port


class SilentServer(LocalServer):
    """A process that never listens: stands in for a server that hangs at start-up."""

    name = "silent"

    def __init__(self, settings, port: int) -> None:  # type: ignore[no-untyped-def]
        super().__init__(settings)
        self._port = port

    @property
    def port(self) -> int:
        return self._port

    def command(self) -> list[str]:
        return ["sleep", "30"]


def test_server_that_never_answers_names_port_and_log(tmp_path: Path) -> None:
    port = free_port()
    server = SilentServer(load_settings(state_dir=tmp_path), port)
    server.start()
    try:
        assert server.pid() is not None
        with pytest.raises(InfraError) as err:
            server.wait_ready(1.0)
        message = str(err.value)
        assert f"127.0.0.1:{port}" in message and str(server.log_file) in message
    finally:
        assert server.stop(timeout_s=5)
    assert server.pid() is None


class FailingServer(SilentServer):
    """A process that says why and exits: stands in for a server whose port was taken."""

    name = "failing"

    def command(self) -> list[str]:
        return ["sh", "-c", "echo starting; echo 'Address already in use' >&2; exit 1"]


def test_server_that_exits_at_start_up_shows_its_last_log_lines(tmp_path: Path) -> None:
    server = FailingServer(load_settings(state_dir=tmp_path), free_port())
    server.start()
    with pytest.raises(InfraError) as err:
        server.wait_ready(10.0)
    message = str(err.value)
    assert "exited during start-up" in message and str(server.log_file) in message
    assert message.endswith("starting\nAddress already in use")


def test_stop_ignores_a_pid_file_of_someone_else(tmp_path: Path) -> None:
    server = SilentServer(load_settings(state_dir=tmp_path), free_port())
    server.root.mkdir(parents=True)
    server.pid_file.write_text("1\n")  # pid 1 runs, but not in our state folder
    assert server.pid() is None
    assert server.stop() is False
