"""What every settings area shares: its model configuration and the flat names of its fields.

A field keeps the flat name it had before the settings were split into areas (``VIGIL_`` +
the flat name is its environment variable, the flat name its key in a settings file). Where
the field's name inside its area differs (``kafka.bootstrap``, flat ``kafka_bootstrap``), the
flat name is the field's ``validation_alias``; elsewhere the two are the same.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from vigil.core.errors import VigilError


class SettingsError(VigilError, ValueError):
    """A settings value or key is wrong; the message names the key and what is allowed."""

    exit_code = 2


class Area(BaseModel):
    """One area of the settings (Kafka, Redis, the gateway, ...): frozen, unknown keys refused,
    each field known by its name in the area and by its flat name."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, validate_by_name=True,
        validate_by_alias=True,
    )

    @classmethod
    def flat_names(cls) -> dict[str, str]:
        """{flat name: field name} of every field of the area."""
        names: dict[str, str] = {}
        for name, field in cls.model_fields.items():
            alias = field.validation_alias
            names[alias if isinstance(alias, str) else name] = name
        return names
