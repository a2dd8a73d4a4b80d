"""`vigil weights activate ROLE NAME`: which plug-in serves a role, durable and announced.

The choice is stored in the user database (control/users/db_models.py) and its ``model-activated``
ControlEvent goes into the outbox in the same transaction, keyed ``_deployment``; the outbox
delivers it to the ``control`` topic (later, when Kafka is down now). The model stages follow
that topic and swap the plug-in in between two batches (processors/model_swap.py); a stage
that starts later reads the database (:func:`active_model_names`), so a restart keeps it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from control.clients import ClientControl
from control.users.db import UserRepository
from control.users.repository import open_repository
from processors.vision.registry import ACTIVATABLE, check_activation, configured_name
from schemas.events import DEPLOYMENT_KEY, ControlKind, ModelActivation
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

ActiveReader = Callable[[], dict[str, str]]  # role -> the plug-in name activated for it


def activate_model(control: ClientControl, role: str, name: str, actor: str = "cli") -> bool:
    """Store and announce that ``name`` serves ``role``; False when it was active already
    (announced again all the same: a stage whose load failed tries once more)."""
    role, name = check_activation(role, name)
    with control.repo.transaction():
        changed = control.repo.set_active_model(role, name, actor)
        control.record(DEPLOYMENT_KEY, ControlKind.MODEL_ACTIVATED, f"{role} -> {name}", actor,
                       ModelActivation(role=role, name=name))
    log.info("model activated role=%s name=%s actor=%s changed=%s", role, name, actor, changed)
    control.deliver()
    return changed


def active_model_names(settings: Settings, repo: UserRepository) -> dict[str, str]:
    """Role -> the plug-in name serving it: the activation if any, else the setting."""
    activated = repo.active_models()
    return {role: activated.get(role, configured_name(settings, role)) for role in ACTIVATABLE}


def active_models_reader(settings: Settings) -> ActiveReader:
    """A function reading the activations from the user database (opened once, shared)."""
    repo = open_repository(settings)
    return repo.active_models
