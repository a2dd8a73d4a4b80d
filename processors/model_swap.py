"""Hot reload of a model stage's plug-ins: loaded in the background, swapped between batches.

`vigil weights activate ROLE NAME` stores the choice in the user database and announces it
as a ``model-activated`` control event (processors/model_activation.py). Each model stage
follows the ``control`` topic (control/events/feed.py); a :class:`ModelSwitcher` there loads
and warms up the new plug-in on a thread of its own while the old one keeps serving, and the
stage loop calls :meth:`ModelSwitcher.between_batches` before each batch: a plug-in that is
ready by then is put in service, so no batch ever runs on a half-loaded model or on two
versions of a role.
A load that fails is logged with its reason and counted; the old plug-in keeps serving. The
versions the batch ran with are what its results name (``models``).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import cast

from control.events.feed import follow_control_events
from control.users.db import UserDatabaseError
from processors.vision.registry import LoadedPlugin, Role
from schemas.events import ControlEvent, ControlKind
from vigil.core import metrics
from vigil.core.settings import Settings

log = logging.getLogger(__name__)

Loader = Callable[[Role, str], LoadedPlugin]  # role, registry name -> loaded and warmed up
Install = Callable[[Role, LoadedPlugin], None]  # puts a plug-in in service (stage thread)
ActiveReader = Callable[[], Mapping[str, str]]  # the user database's activations, role -> name


def plugin_name(version: str) -> str:
    """The registry name of a ``name@digest`` version."""
    return version.split("@", 1)[0]


class ModelSwitcher:
    """The plug-ins a stage serves its swappable ``roles`` with, and the ones loading."""

    def __init__(self, stage: str, roles: Sequence[Role], versions: Mapping[str, str],
                 load: Loader, install: Install) -> None:
        self.stage = stage
        self.roles = tuple(roles)
        self._versions = dict(versions)  # every role the stage runs, swappable or not
        self._load = load
        self._install = install
        self._lock = threading.Lock()
        self._wanted = {role: plugin_name(self._versions[role]) for role in self.roles}
        self._ready: dict[Role, LoadedPlugin] = {}
        for role, version in self._versions.items():
            metrics.MODEL_INFO.labels(stage, role, version).set(1)

    def request(self, role: str, name: str) -> threading.Thread | None:
        """Have ``name`` serve ``role`` from a coming batch on (ignored: roles not this
        stage's). A later request for the role wins over one still loading. Returns the
        loading thread, if a load started."""
        if role not in self.roles:
            return None
        swappable = cast(Role, role)
        with self._lock:
            if name == self._wanted[swappable]:
                return None  # serving it, or loading it already
            self._wanted[swappable] = name
            self._ready.pop(swappable, None)
            if name == plugin_name(self._versions[swappable]):
                log.info("stage=%s role=%s back to the serving plug-in %s", self.stage, role,
                         name)
                return None
        log.info("stage=%s role=%s loading %s in the background", self.stage, role, name)
        thread = threading.Thread(target=self._load_one, args=(swappable, name), daemon=True,
                                  name=f"load-{role}-{name}")
        thread.start()
        return thread

    def on_control(self, event: ControlEvent) -> None:
        """A control event: an activation of one of this stage's roles starts a load."""
        if event.kind is ControlKind.MODEL_ACTIVATED and event.activation is not None:
            log.info("stage=%s control event_id=%s: activate role=%s name=%s actor=%s",
                     self.stage, event.event_id, event.activation.role, event.activation.name,
                     event.actor)
            self.request(event.activation.role, event.activation.name)

    def reconcile(self, active: Mapping[str, str]) -> None:
        """Request what the user database says is active (role -> name) for each role."""
        for role in self.roles:
            if role in active:
                self.request(role, active[role])

    def _load_one(self, role: Role, name: str) -> None:
        try:
            loaded = self._load(role, name)
        except Exception as exc:  # any failure of a plug-in: the serving one stays
            log.error("stage=%s role=%s could not load %s, the serving %s stays: %s: %s",
                      self.stage, role, name, self._versions[role], type(exc).__name__, exc)
            metrics.MODEL_LOADS.labels(self.stage, role, "failed").inc()
            with self._lock:
                if self._wanted[role] == name:  # a repeated activation tries again
                    self._wanted[role] = plugin_name(self._versions[role])
            return
        with self._lock:
            if self._wanted[role] != name:
                log.info("stage=%s role=%s loaded %s, no longer wanted", self.stage, role,
                         loaded.version)
                metrics.MODEL_LOADS.labels(self.stage, role, "superseded").inc()
                return
            self._ready[role] = loaded
        log.info("stage=%s role=%s %s loaded and warmed up; in service from the next batch",
                 self.stage, role, loaded.version)

    def between_batches(self) -> dict[str, str]:
        """Put the plug-ins that are ready in service; the versions the next batch runs with.

        Called by the stage's own thread before each batch, so nothing runs meanwhile."""
        with self._lock:
            ready, self._ready = self._ready, {}
        for role, loaded in ready.items():
            old = self._versions[role]
            self._install(role, loaded)
            self._versions[role] = loaded.version
            metrics.MODEL_INFO.labels(self.stage, role, old).set(0)
            metrics.MODEL_INFO.labels(self.stage, role, loaded.version).set(1)
            metrics.MODEL_LOADS.labels(self.stage, role, "swapped").inc()
            log.info("stage=%s role=%s swapped %s -> %s between batches", self.stage, role,
                     old, loaded.version)
        return dict(self._versions)

    @property
    def versions(self) -> dict[str, str]:
        """The versions serving now (role -> plug-in@digest)."""
        return dict(self._versions)


def follow_control(settings: Settings, switcher: ModelSwitcher, stop: threading.Event,
                   active: ActiveReader | None = None,
                   on_client_event: Callable[[ControlEvent], None] | None = None) -> None:
    """A model stage's control follower (blocks; own thread): activations go to
    ``switcher``, other events to ``on_client_event``. Once following, the activations stored
    in the user database (``active``) are read once more, so one made while the stage
    started is not missed."""

    def on_event(event: ControlEvent) -> None:
        if event.kind is ControlKind.MODEL_ACTIVATED:
            switcher.on_control(event)
        elif on_client_event is not None:
            on_client_event(event)

    def on_following() -> None:
        if active is None:
            return
        try:
            switcher.reconcile(active())
        except (sqlite3.Error, UserDatabaseError) as exc:
            log.error("stage=%s activations not read from the user database (control events "
                      "still are): %s", switcher.stage, exc)

    follow_control_events(settings, stop, on_event, on_following)
