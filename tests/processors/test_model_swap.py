"""The model switcher without a broker: loads in the background, swaps only between batches,
keeps the old model when a load fails, and lets the latest activation win."""

from __future__ import annotations

import threading

import pytest

from processors.model_swap import ModelSwitcher
from processors.vision.base import VisionPlugin
from processors.vision.device import DeviceChoice
from processors.vision.registry import LoadedPlugin, Role
from schemas.events import DEPLOYMENT_KEY, ControlEvent, ControlKind, ModelActivation
from vigil.core import metrics
from vigil.core.settings import load_settings

CPU = DeviceChoice("cpu", "cpu", False, "test")
JOIN_S = 10.0


class Named(VisionPlugin):
    """A plug-in that only has a name: what the switcher moves around."""

    name = "named"

    def __init__(self, label: str) -> None:
        super().__init__(load_settings(), CPU)
        self.label = label

    def load(self) -> None:
        self.loaded = True

    def _warm_up_once(self) -> None:
        return None


class GatedLoader:
    """Loads finish only when the test opens their gate; a name in ``broken`` fails."""

    def __init__(self, broken: frozenset[str] = frozenset()) -> None:
        self.gates: dict[str, threading.Event] = {}
        self.broken = broken
        self.calls: list[str] = []

    def gate(self, name: str) -> threading.Event:
        return self.gates.setdefault(name, threading.Event())

    def __call__(self, role: Role, name: str) -> LoadedPlugin:
        self.calls.append(name)
        assert self.gate(name).wait(JOIN_S), f"gate of {name} never opened"
        if name in self.broken:
            raise FileNotFoundError(f"weights of {name} missing")
        return LoadedPlugin(Named(name), f"{name}@{name[:3]}00000")


class Serving:
    """What the stage serves: the switcher installs into it."""

    def __init__(self) -> None:
        self.plugin: VisionPlugin = Named("old")
        self.installed: list[str] = []

    def install(self, role: Role, loaded: LoadedPlugin) -> None:
        self.plugin = loaded.plugin
        self.installed.append(loaded.version)


def switcher(loader: GatedLoader, serving: Serving, stage: str) -> ModelSwitcher:
    return ModelSwitcher(stage, ("phone_detector",),
                         {"phone_detector": "old@0ld00000", "face_embedder": "facenet@b5aac4f6"},
                         loader, serving.install)


def activation(role: str, name: str) -> ControlEvent:
    return ControlEvent(event_id=f"e-{name}", client_id=DEPLOYMENT_KEY,
                        kind=ControlKind.MODEL_ACTIVATED, at=1, actor="test",
                        activation=ModelActivation(role=role, name=name))


def loads(stage: str, outcome: str) -> float:
    value = metrics.MODEL_LOADS.labels(stage, "phone_detector", outcome)._value.get()
    return float(value)


def test_a_load_is_swapped_in_only_between_batches() -> None:
    loader, serving = GatedLoader(), Serving()
    models = switcher(loader, serving, "swap-between")
    loader.gate("new")  # closed: the load is under way
    models.on_control(activation("phone_detector", "new"))
    # Batches run on the old model while the new one loads, and name it.
    assert models.between_batches()["phone_detector"] == "old@0ld00000"
    assert serving.installed == [] and loader.calls == ["new"]
    loader.gate("new").set()
    thread = next(t for t in threading.enumerate() if t.name == "load-phone_detector-new")
    thread.join(JOIN_S)
    # Loaded and warmed up, but not in service until the stage asks between two batches.
    assert serving.installed == [] and models.versions["phone_detector"] == "old@0ld00000"
    versions = models.between_batches()
    assert versions == {"phone_detector": "new@new00000", "face_embedder": "facenet@b5aac4f6"}
    assert serving.installed == ["new@new00000"]
    assert isinstance(serving.plugin, Named) and serving.plugin.label == "new"
    # A repeated activation of what serves loads nothing.
    assert models.request("phone_detector", "new") is None
    assert models.between_batches() == versions and loader.calls == ["new"]


def test_a_failed_load_keeps_the_old_model_and_a_retry_loads_again() -> None:
    loader, serving = GatedLoader(broken=frozenset({"broken"})), Serving()
    models = switcher(loader, serving, "swap-failed")
    loader.gate("broken").set()
    thread = models.request("phone_detector", "broken")
    assert thread is not None
    thread.join(JOIN_S)
    assert models.between_batches()["phone_detector"] == "old@0ld00000"
    assert serving.installed == [] and loads("swap-failed", "failed") == 1
    retry = models.request("phone_detector", "broken")  # the operator activates it again
    assert retry is not None
    retry.join(JOIN_S)
    assert loader.calls == ["broken", "broken"] and loads("swap-failed", "failed") == 2


def test_the_latest_activation_wins_and_other_roles_are_ignored() -> None:
    loader, serving = GatedLoader(), Serving()
    models = switcher(loader, serving, "swap-latest")
    assert models.request("liveness_model", "minifasnet") is None  # not this stage's role
    first = models.request("phone_detector", "first")
    second = models.request("phone_detector", "second")
    assert first is not None and second is not None
    loader.gate("second").set()
    second.join(JOIN_S)
    loader.gate("first").set()  # finishes last, but is no longer wanted
    first.join(JOIN_S)
    assert models.between_batches()["phone_detector"] == "second@sec00000"
    assert serving.installed == ["second@sec00000"]
    assert loads("swap-latest", "superseded") == 1
    # Back to the serving one while a load is under way: the load's result is dropped.
    third = models.request("phone_detector", "third")
    assert models.request("phone_detector", "second") is None and third is not None
    loader.gate("third").set()
    third.join(JOIN_S)
    assert models.between_batches()["phone_detector"] == "second@sec00000"


def test_other_control_events_start_no_load() -> None:
    loader, serving = GatedLoader(), Serving()
    models = switcher(loader, serving, "swap-other")
    models.on_control(ControlEvent(event_id="e1", client_id="alice", kind=ControlKind.BLOCKED,
                                   at=1))
    models.reconcile({"liveness_model": "celebaspoof", "phone_detector": "old"})
    assert loader.calls == []


@pytest.mark.parametrize("role", ["face_detector", "liveness_model", "phone_detector"])
def test_every_activatable_role_has_another_plug_in_to_swap_to(role: Role) -> None:
    from processors.vision.registry import ACTIVATABLE, REGISTRY, configured_name

    assert role in ACTIVATABLE
    assert set(REGISTRY[role]) - {configured_name(load_settings(), role)}
