"""The README, CI and docker-compose stay true to the code."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from vigil.apps.cli import build_parser
from vigil.core.settings import reject_unknown_env

REPO = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    first_block = re.search(r"```sh\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    assert first_block is not None, "the README opens with a sh block of two commands"
    return [line.split("#")[0].strip() for line in first_block.group(1).splitlines()
            if line.strip()]


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one() -> None:
    up, test = readme_commands()
    assert (REPO / up).is_file() and "vigil up" in (REPO / up).read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert f"exec {test}" in ci.splitlines()


def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_every_compose_service_command_is_a_vigil_subcommand() -> None:
    parser = build_parser()
    vigil_services = [s for s in compose()["services"].values() if "build" in s]
    assert len(vigil_services) >= 8
    for service in vigil_services:
        command = service["command"]
        args = shlex.split(command) if isinstance(command, str) else command
        parsed = parser.parse_args(args)  # exits (SystemExit) on an unknown command
        assert callable(parsed.handler)


def test_compose_environment_names_only_real_settings() -> None:
    for name, service in compose()["services"].items():
        env = service.get("environment", {})
        keys = env if isinstance(env, dict) else [e.split("=")[0] for e in env]
        reject_unknown_env({k: "" for k in keys if k.startswith("VIGIL_")}), name


@pytest.mark.skipif(shutil.which("docker") is None, reason="docker client not installed")
def test_docker_compose_config_accepts_the_file() -> None:
    docker = shutil.which("docker")
    assert docker is not None
    result = subprocess.run([docker, "compose", "config", "--quiet"], cwd=REPO,
                            env={**os.environ, "VIGIL_SECRET_KEY": "x"},
                            capture_output=True, text=True, check=False)
    if "is not a docker command" in result.stderr or "unknown" in result.stderr.lower():
        pytest.skip("docker compose plugin not installed")
    assert result.returncode == 0, result.stderr


def test_the_image_copies_every_package_the_cli_imports() -> None:
    import tomllib

    packages = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"]["find"]["include"]
    copied = {line.split()[1] for line in (REPO / "Dockerfile").read_text().splitlines()
              if line.startswith("COPY ")}
    missing = {p.rstrip("*") for p in packages} - copied
    assert not missing, f"the Dockerfile does not COPY {sorted(missing)}"
