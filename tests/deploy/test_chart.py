"""The Helm chart (deploy/helm/vigil): linted, rendered, and every object validated strictly.

helm and the validator (deploy/validate/, strict decoding into the Kubernetes API types) are
built once per version by deploy/build-tools.sh into the cache folder; a warm run takes
seconds. Beyond the API types, the rendered chart is held to the code: a Deployment per stage
of the stage table running that stage's command, KEDA on the consumer groups the code uses,
environment that Vigil's own settings accept, and keys only ever from a Secret.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from vigil.core.flow import FRAMES, STAGES
from vigil.core.settings import load_settings

CHART = REPO / "deploy" / "helm" / "vigil"
GPU_VALUES = CHART / "values-gpu.yaml"
BUILD_TIMEOUT_S = 1800  # helm from source on a fresh 2-core machine
# The first run compiles helm: the fixture's build counts against the first test's timeout.
pytestmark = pytest.mark.timeout(BUILD_TIMEOUT_S + 300)
TEST_KEY = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="  # base64 of 32 bytes, for settings


@pytest.fixture(scope="module")
def tools() -> Path:
    """The folder holding helm and vigil-validate, built when missing."""
    env = {**os.environ, "VIGIL_CACHE": os.environ.get(
        "VIGIL_CACHE", str(Path.home() / ".cache" / "vigil"))}
    built = subprocess.run(["bash", str(REPO / "deploy" / "build-tools.sh")], env=env,
                           capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False)
    assert built.returncode == 0, built.stderr[-3000:]
    return Path(built.stdout.strip().splitlines()[-1])


def helm(tools: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(tools / "helm"), *args], capture_output=True, text=True,
                          timeout=120, check=False)


def render(tools: Path, *args: str) -> str:
    done = helm(tools, "template", "vigil", str(CHART), "--namespace", "vigil", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def validate(tools: Path, manifests: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(tools / "vigil-validate")], input=manifests, capture_output=True,
                          text=True, timeout=120, check=False)


def objects(manifests: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(manifests) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    """Objects of one kind by their component label."""
    return {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in docs
            if d["kind"] == kind}


@pytest.fixture(scope="module", params=["default", "gpu"])
def rendered(request: pytest.FixtureRequest, tools: Path) -> Iterator[tuple[str, str]]:
    args = ["-f", str(GPU_VALUES)] if request.param == "gpu" else []
    yield request.param, render(tools, *args)


def test_chart_lints(tools: Path) -> None:
    for args in ([], ["-f", str(GPU_VALUES)]):
        done = helm(tools, "lint", "--strict", str(CHART), *args)
        assert done.returncode == 0, done.stdout + done.stderr


def test_every_rendered_object_is_valid(tools: Path, rendered: tuple[str, str]) -> None:
    done = validate(tools, rendered[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: ") and "7 Deployment" not in done.stdout  # +console
    assert "8 Deployment" in done.stdout and "2 ScaledObject" in done.stdout, done.stdout


def test_validator_refuses_unknown_fields_and_kinds(tools: Path) -> None:
    manifests = render(tools)
    typo = manifests.replace("imagePullPolicy:", "imagePulPolicy:", 1)
    refused = validate(tools, typo)
    assert refused.returncode == 1, refused.stderr
    assert 'Deployment vigil-console: error unmarshaling JSON: while decoding JSON: json: ' \
        'unknown field "imagePulPolicy"' in refused.stderr, refused.stderr
    alien = validate(tools, "apiVersion: v1\nkind: Pod3\nmetadata: {name: x}\n")
    assert alien.returncode == 1 and "/v1, Kind=Pod3 is not a type" in alien.stderr
    unwired = manifests.replace("targetPort: metrics", "targetPort: metricz", 1)
    assert 'targetPort "metricz" is no port' in validate(tools, unwired).stderr


def test_a_deployment_per_stage_runs_that_stage(tools: Path) -> None:
    docs = objects(render(tools))
    deployments = by_kind(docs, "Deployment")
    assert set(deployments) == {s.name for s in STAGES} | {"console"}
    settings = load_settings(metrics_port_base=9400)  # docker-compose.yml's ports
    for entry in STAGES:
        container = deployments[entry.name]["spec"]["template"]["spec"]["containers"][0]
        port = entry.metrics_port(settings)
        assert container["args"] == [*entry.command, "--metrics-port", str(port)]
        assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert {"name": "metrics", "containerPort": port} in container["ports"]
    assert set(by_kind(docs, "PodDisruptionBudget")) == {s.name for s in STAGES}


def test_keda_scales_the_model_stages_on_their_consumer_groups(tools: Path) -> None:
    docs = objects(render(tools, "--set", "namespace=prod"))
    scaled = by_kind(docs, "ScaledObject")
    settings = load_settings(namespace="prod")
    assert set(scaled) == {s.name for s in STAGES if s.scales}  # the model stages
    groups = {s.name: s.group(settings) for s in STAGES}
    for name, scaler in scaled.items():
        trigger = scaler["spec"]["triggers"][0]
        assert trigger["type"] == "kafka"
        assert trigger["metadata"]["consumerGroup"] == groups[name]
        assert trigger["metadata"]["topic"] == FRAMES.name(settings)
        assert "replicas" not in by_kind(docs, "Deployment")[name]["spec"]  # KEDA owns it
    too_many = helm(tools, "template", "vigil", str(CHART), "--set", "kafka.partitions=4")
    assert too_many.returncode != 0 and "exceeds kafka.partitions" in too_many.stderr


def test_environment_is_what_vigil_settings_accept(tools: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Every container's VIGIL_ variables load into Vigil's settings; keys come from the
    Secret only, never as values."""
    manifests = render(tools, "-f", str(GPU_VALUES))
    assert "kind: Secret\n" not in manifests
    for doc in objects(manifests):
        spec = doc.get("spec", {}).get("template", {}).get("spec")
        for container in (spec or {}).get("containers", []) + (spec or {}).get(
                "initContainers", []):
            env = {e["name"]: e for e in container.get("env", [])}
            assert "secretKeyRef" in env["VIGIL_SECRET_KEY"]["valueFrom"]
            for name in [n for n in os.environ if n.startswith("VIGIL_")]:
                monkeypatch.delenv(name)
            for name, item in env.items():
                if name.startswith("VIGIL_"):
                    monkeypatch.setenv(name, item.get("value", TEST_KEY))
            load_settings()  # raises SettingsError naming an unknown or bad variable


def test_gpu_requests_are_a_value(tools: Path) -> None:
    def gpus(manifests: str) -> dict[str, str]:
        return {name: d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
                .get("nvidia.com/gpu") for name, d in by_kind(objects(manifests),
                                                              "Deployment").items()}
    assert set(gpus(render(tools)).values()) == {None}
    with_gpu = gpus(render(tools, "-f", str(GPU_VALUES)))
    assert {n for n, g in with_gpu.items() if g} == {"face", "phone"}
    assert with_gpu["face"] == 1


def test_only_gateways_and_the_console_take_outside_traffic(tools: Path) -> None:
    docs = objects(render(tools))
    policies = by_kind(docs, "NetworkPolicy")
    deny = policies.pop("network")
    assert deny["spec"]["policyTypes"] == ["Ingress"] and "ingress" not in deny["spec"]
    outside = {name for name, p in policies.items()
               for rule in p["spec"]["ingress"] if {"port": "metrics", "protocol": "TCP"}
               not in rule["ports"]}
    assert outside == {"gateway", "console"}
    ingress = by_kind(docs, "Ingress")["ingress"]
    backends = {path["backend"]["service"]["name"] for rule in ingress["spec"]["rules"]
                for path in rule["http"]["paths"]}
    assert backends == {"vigil-gateway", "vigil-console"}
    gateway = by_kind(docs, "Deployment")["gateway"]["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in gateway["containers"][0]["env"]}
    assert json.loads(env["VIGIL_TRUSTED_PROXIES"]) == ["10.0.0.0/8"]


def test_single_writer_refuses_a_second_replica(tools: Path) -> None:
    done = helm(tools, "template", "vigil", str(CHART), "--set", "stages.audit.replicas=2")
    assert done.returncode != 0 and "stages.audit.replicas must be 1" in done.stderr
