"""Loading the settings: the environment, an optional TOML file and overrides, and errors that
name the flat key a user wrote."""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import ValidationError
from pydantic.fields import FieldInfo

from vigil.core.settings.base import SettingsError
from vigil.core.settings.root import AREAS, CONFIG_FILE, ENV_PREFIX, Settings, env_names

# VIGIL_ variables that are read by tools rather than by the settings.
NON_SETTING_ENV = frozenset({"VIGIL_CONFIG", "VIGIL_CACHE", "VIGIL_SHARED"})


def nearest(name: str, known: list[str]) -> str:
    """``; did you mean X?`` for the known name nearest to ``name``, or nothing."""
    hint = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean {hint[0]}?" if hint else ""


def reject_unknown_env(environ: Mapping[str, str]) -> None:
    """Raise SettingsError for a ``VIGIL_`` variable that names no setting, naming the nearest
    that does."""
    known = sorted(env_names())
    for key in environ:
        upper = key.upper()
        if upper.startswith(ENV_PREFIX) and upper not in env_names() and (
                upper not in NON_SETTING_ENV):
            raise SettingsError(f"{key} is not a setting{nearest(upper, known)}")


def _place(loc: tuple[Any, ...]) -> tuple[str, FieldInfo | None, list[str]]:
    """The flat name an error's location stands for, its field, and the names allowed there."""
    if len(loc) >= 2 and loc[0] in AREAS:
        model = AREAS[str(loc[0])]
        flat_of = {name: flat for flat, name in model.flat_names().items()}
        name = model.flat_names().get(str(loc[1]), str(loc[1]))
        flat = flat_of.get(name, f"{loc[0]}.{loc[1]}")
        rest = "".join(f"[{part}]" for part in loc[2:])
        return flat + rest, model.model_fields.get(name), sorted(model.model_fields)
    key = ".".join(str(part) for part in loc) or "settings"
    known = sorted({flat.removeprefix(ENV_PREFIX).lower() for flat in env_names()} | set(AREAS))
    return key, None, known


def _describe(error: Mapping[str, Any]) -> str:
    key, field, known = _place(tuple(error.get("loc", ())))
    if error.get("type") == "extra_forbidden":
        return f"unknown setting {key!r}{nearest(key.rsplit('.', 1)[-1], known)}"
    allowed = ""
    if field is not None:
        bounds = [
            f"{name} {getattr(m, name)}"
            for m in field.metadata
            for name in ("ge", "gt", "le", "lt")
            if getattr(m, name, None) is not None
        ]
        allowed = f" (allowed: {', '.join(bounds)})" if bounds else ""
    value = error.get("input")
    if key == "user_db" and isinstance(value, str):
        value = redact_url(value)
    return f"setting {key}={value!r}: {error.get('msg')}{allowed}"


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***``, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user, host = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=f"{user.split(':', 1)[0]}:***@{host}"))


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Build the settings from the environment, an optional TOML file and overrides (by flat
    name, as ``kafka_bootstrap=...``, or by area).

    Raises SettingsError naming the bad key and its allowed range.
    """

    reject_unknown_env(os.environ)
    path = Path(config_file) if config_file is not None else None
    env_path = os.environ.get("VIGIL_CONFIG")
    for candidate in (path, Path(env_path) if env_path else None):
        if candidate is not None and not candidate.is_file():
            raise SettingsError(f"settings file {candidate} does not exist")
    token = CONFIG_FILE.set(path)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError("; ".join(_describe(e) for e in exc.errors())) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: arrays nested thousands deep.
        raise SettingsError(f"settings file {path or env_path} is not valid TOML: "
                            f"{str(exc)[:200]}") from None
    except OSError as exc:
        raise SettingsError(f"settings file {path or env_path}: {exc.strerror}") from None
    finally:
        CONFIG_FILE.reset(token)
