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


def test_stop_ignores_a_pid_file_of_someone_else(tmp_path: Path) -> None:
    server = SilentServer(load_settings(state_dir=tmp_path), free_port())
    server.root.mkdir(parents=True)
    server.pid_file.write_text("1\n")  # pid 1 runs, but not in our state folder
    assert server.pid() is None
    assert server.stop() is False
