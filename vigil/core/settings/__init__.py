"""One validated, immutable settings object per process, one model per area.

Read from environment variables with the ``VIGIL_`` prefix and, optionally, a TOML file named by
``VIGIL_CONFIG`` (or passed to :func:`load_settings`). Environment variables win over the file.
Unknown keys, in the file or in the environment, are an error naming the key and the nearest
known one.

Each setting lives in an area (``settings.kafka.bootstrap``) and keeps its flat name
(``VIGIL_KAFKA_BOOTSTRAP``, ``kafka_bootstrap`` in a file or a keyword): :func:`env_names` maps
every environment variable to its (area, field). The areas, one module each: deployment,
kafka, redis, gateway, control, scaling, weights, models, enroll, processors, decide, sinks,
console, observability.

The seed's names map as: ``MaxClientPerPipeline`` -> ``max_clients_per_pipeline``,
``MaxPipeline`` -> ``max_pipelines``, ``NAMESPACE`` -> ``namespace``.
"""

from vigil.core.settings.base import Area, SettingsError
from vigil.core.settings.control import USER_DB_SCHEMES
from vigil.core.settings.loading import (
    NON_SETTING_ENV,
    load_settings,
    redact_url,
    reject_unknown_env,
)
from vigil.core.settings.models import PhoneView
from vigil.core.settings.root import AREAS, ENV_PREFIX, Settings, env_names, flat_names, nest

__all__ = [
    "AREAS",
    "ENV_PREFIX",
    "NON_SETTING_ENV",
    "USER_DB_SCHEMES",
    "Area",
    "PhoneView",
    "Settings",
    "SettingsError",
    "env_names",
    "flat_names",
    "load_settings",
    "nest",
    "redact_url",
    "reject_unknown_env",
]
