"""The settings object: one frozen model per area, read from flat names.

Every field lives in an area (``settings.kafka.bootstrap``) but keeps the flat name it always
had: ``VIGIL_KAFKA_BOOTSTRAP`` in the environment, ``kafka_bootstrap`` in a settings file, in
``Settings(kafka_bootstrap=...)``, ``load_settings(kafka_bootstrap=...)`` and
``settings.replace(kafka_bootstrap=...)``. A settings file may also nest its keys by area
(``[kafka]`` then ``bootstrap = ...``). The mapping from flat names to areas is derived from the
area models (see :func:`env_names`), never written a second time.
"""

from __future__ import annotations

import json
import os
import types
from collections.abc import Mapping
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from vigil.core.plugins import AUTO, SHARED_FACES, choose_embedder
from vigil.core.settings.base import Area, SettingsError
from vigil.core.settings.console import ConsoleSettings
from vigil.core.settings.control import ControlSettings
from vigil.core.settings.decide import DecideSettings
from vigil.core.settings.deployment import DeploymentSettings
from vigil.core.settings.enroll import EnrollSettings
from vigil.core.settings.gateway import GatewaySettings
from vigil.core.settings.kafka import KafkaSettings
from vigil.core.settings.models import ModelsSettings
from vigil.core.settings.observability import ObservabilitySettings
from vigil.core.settings.processors import ProcessorsSettings
from vigil.core.settings.redis import RedisSettings
from vigil.core.settings.scaling import ScalingSettings
from vigil.core.settings.sinks import SinksSettings
from vigil.core.settings.weights import WeightsSettings

ENV_PREFIX = "VIGIL_"
# The TOML file of the settings being loaded (set by load_settings, else VIGIL_CONFIG).
CONFIG_FILE: ContextVar[Path | None] = ContextVar("CONFIG_FILE", default=None)


def _area(model: type[Area]) -> Any:
    """The field of an area: its defaults, described by the area's docstring."""
    return Field(model(), description=model.__doc__)


class Settings(BaseSettings):
    """Every tunable of a Vigil process, one frozen model per area.

    Flat names are accepted wherever settings are given (``Settings(kafka_bootstrap=...)`` and
    ``Settings(kafka={"bootstrap": ...})`` are the same); :meth:`replace` changes some.
    """

    # env_prefix for readers (the settings reference): _FlatEnvironment reads the variables.
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", frozen=True, validate_default=True)

    deployment: DeploymentSettings = _area(DeploymentSettings)
    kafka: KafkaSettings = _area(KafkaSettings)
    redis: RedisSettings = _area(RedisSettings)
    gateway: GatewaySettings = _area(GatewaySettings)
    control: ControlSettings = _area(ControlSettings)
    scaling: ScalingSettings = _area(ScalingSettings)
    weights: WeightsSettings = _area(WeightsSettings)
    models: ModelsSettings = _area(ModelsSettings)
    enroll: EnrollSettings = _area(EnrollSettings)
    processors: ProcessorsSettings = _area(ProcessorsSettings)
    decide: DecideSettings = _area(DecideSettings)
    sinks: SinksSettings = _area(SinksSettings)
    console: ConsoleSettings = _area(ConsoleSettings)
    observability: ObservabilitySettings = _area(ObservabilitySettings)

    @model_validator(mode="before")
    @classmethod
    def _nest_flat_keys(cls, data: Any) -> Any:
        # model_validate (replace) comes here without the sources; they nest already.
        return nest(data) if isinstance(data, Mapping) else data

    @model_validator(mode="after")
    def _defaults_from_folders(self) -> Settings:
        state = self.deployment.state_dir
        defaults = {"dir": state / "weights", "model_cache_dir": state / "model-cache"}
        missing = {name: path for name, path in defaults.items()
                   if getattr(self.weights, name) is None}
        if missing:  # a new area object: never change one that another Settings may share
            object.__setattr__(self, "weights", self.weights.model_copy(update=missing))
        models: dict[str, Any] = {}
        if self.models.int8_calibration_faces is None and SHARED_FACES.is_dir():
            models["int8_calibration_faces"] = SHARED_FACES
        if self.models.face_embedder == AUTO:
            models["face_embedder"] = choose_embedder(
                self.weights.path, self.weights.mirror,
                models.get("int8_calibration_faces", self.models.int8_calibration_faces))
        if models:
            object.__setattr__(self, "models", self.models.model_copy(update=models))
        return self

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed, by flat name (``kafka_bootstrap=...``) or by area
        (``kafka={"bootstrap": ...}``), validated like any settings. (``model_copy(update=)``
        neither validates nor knows flat names.) Folders already defaulted from ``state_dir``
        stay as they are."""
        current: dict[str, Any] = {area: dict(getattr(self, area)) for area in AREAS}
        for key, value in nest(changes).items():
            if key in AREAS and isinstance(value, dict):
                current[key].update(value)
            else:
                current[key] = value
        return type(self).model_validate(current)

    @property
    def user_db_path(self) -> Path:
        """The SQLite user database file (user_db, else STATE_DIR/users.sqlite3)."""
        if self.control.user_db_url is not None:
            raise SettingsError("user_db is a PostgreSQL URL, not a SQLite file")
        user_db = self.control.user_db
        return Path(user_db) if user_db else self.deployment.state_dir / "users.sqlite3"

    def topic(self, name: str) -> str:
        """The full name of one of ARCHITECTURE.md's topics under the namespace."""
        return f"{self.deployment.namespace}.{name}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Each source gives nested values, so the merge (first source wins) is per field.
        toml_file = CONFIG_FILE.get() or os.environ.get("VIGIL_CONFIG")
        sources: list[PydanticBaseSettingsSource] = [
            _Nested(settings_cls, init_settings), _FlatEnvironment(settings_cls)]
        if toml_file:
            toml = TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_file))
            sources.append(_Nested(settings_cls, toml))
        return tuple(sources)


AREAS: dict[str, type[Area]] = {
    name: field.annotation for name, field in Settings.model_fields.items()  # type: ignore[misc]
}


@cache
def flat_names() -> dict[str, tuple[str, str]]:
    """{flat name: (area, field name)} of every setting."""
    return {flat: (area, name) for area, model in AREAS.items()
            for flat, name in model.flat_names().items()}


def env_names() -> dict[str, tuple[str, str]]:
    """{environment variable: (area, field name)} of every setting, e.g.
    ``"VIGIL_KAFKA_BOOTSTRAP": ("kafka", "bootstrap")``; for the settings reference."""
    return {f"{ENV_PREFIX}{flat}".upper(): place for flat, place in flat_names().items()}


def nest(data: Mapping[str, Any]) -> dict[str, Any]:
    """Settings given by flat name (``kafka_bootstrap``) or by area (``kafka={...}``), by area.

    Unknown keys are kept where they were, for the models to refuse by name; a setting given
    twice (by both names) is an error.
    """
    out: dict[str, Any] = {}
    given: dict[tuple[str, str], str] = {}  # (area, field) -> the key that gave it

    def put(area: str, name: str, value: Any, key: str) -> None:
        if (area, name) in given:
            raise SettingsError(f"setting {key} is given twice (also as {given[area, name]})")
        given[area, name] = key
        out.setdefault(area, {})[name] = value

    for key, value in data.items():
        if key in flat_names():
            put(*flat_names()[key], value, key)
        elif key in AREAS:
            if not isinstance(value, Mapping | BaseModel):
                raise SettingsError(f"setting {key} is an area: give it a table of its "
                                    f"settings, not {value!r}")
            fields = AREAS[key].flat_names()
            items = dict(value) if isinstance(value, BaseModel) else value
            for name, item in items.items():
                put(key, fields.get(name, name), item, f"{key}.{name}")
        else:
            out[key] = value
    return out


def _is_complex(annotation: Any) -> bool:
    """Whether an environment variable of this type is JSON (tuples and the like)."""
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_is_complex(arg) for arg in get_args(annotation))
    return get_origin(annotation) in (tuple, list, dict, set, frozenset)


class _Nested(PydanticBaseSettingsSource):
    """Another source (the constructor's keywords, the TOML file), its keys nested by area."""

    def __init__(self, settings_cls: type[BaseSettings], inner: PydanticBaseSettingsSource):
        super().__init__(settings_cls)
        self.inner = inner

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ does the work

    def __call__(self) -> dict[str, Any]:
        return nest(self.inner())


class _FlatEnvironment(PydanticBaseSettingsSource):
    """``VIGIL_`` + the flat name of each setting (any case), by area; lists are JSON."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ does the work

    def __call__(self) -> dict[str, Any]:
        environ = {key.upper(): value for key, value in os.environ.items()}
        values: dict[str, Any] = {}
        for env, (area, name) in env_names().items():
            if env not in environ:
                continue
            value: Any = environ[env]
            if _is_complex(AREAS[area].model_fields[name].annotation):
                try:
                    value = json.loads(value)
                except json.JSONDecodeError as exc:
                    raise SettingsError(f"{env} is not JSON (a list is written "
                                        f'["a", "b"]): {exc}') from None
            values.setdefault(area, {})[name] = value
        return values
