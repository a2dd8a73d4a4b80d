"""The settings reference of the docs site, generated from the settings models themselves.

Walks the pydantic Settings model (and any nested BaseModel field, recursively) and writes one
Markdown table per model that declares fields: environment variable, type, default, bounds and
description. The docs build calls :func:`settings_markdown` (docs/hooks/settings_reference.py),
so the page is never copied by hand and never goes stale.

Environment names follow pydantic-settings as the model is configured: ``env_prefix`` before
each top-level name, a field's alias instead of prefix and name, and for a nested model
``env_nested_delimiter`` between the parts. A nested model without a delimiter is shown flat
(``VIGIL_`` and the field's alias, else its name), the layout that keeps the variables' names
when settings are grouped by area (vigil.core.settings.env_names maps them the same way);
tests/unit/test_settings_reference.py checks every name shown against the loader, so a mapping
this module gets wrong fails there.
"""

from __future__ import annotations

import enum
import inspect
import json
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import AliasChoices, BaseModel, SecretStr
from pydantic.fields import FieldInfo

# Constraint attributes of annotated-types / pydantic metadata, and how the table writes them.
_BOUNDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"),
           ("min_length", "length >="), ("max_length", "length <="))


@dataclass(frozen=True)
class SettingRow:
    """One leaf setting: where it lives in the model and how an operator sets it."""

    path: tuple[str, ...]  # field names from the root model to this field
    env: str  # the environment variable
    type: str
    default: str
    bounds: str
    description: str
    group: str  # the declaring model's name and the first line of its docstring


@dataclass(frozen=True)
class _EnvNaming:
    prefix: str
    nested_delimiter: str | None
    case_sensitive: bool

    @classmethod
    def of(cls, model: type[BaseModel]) -> _EnvNaming:
        config: Any = model.model_config
        return cls(config.get("env_prefix", "") or "", config.get("env_nested_delimiter"),
                   bool(config.get("case_sensitive", False)))

    def shown(self, name: str) -> str:
        return name if self.case_sensitive else name.upper()


def setting_rows(model: type[BaseModel]) -> list[SettingRow]:
    """Every leaf setting of ``model``, nested models walked depth first, in declared order."""
    return list(_walk(model, (), None, _EnvNaming.of(model)))


def _walk(model: type[BaseModel], path: tuple[str, ...], env_parent: str | None,
          naming: _EnvNaming) -> Iterator[SettingRow]:
    for name, field in model.model_fields.items():
        env = _env_name(name, field, env_parent, naming)
        nested = _nested_model(field.annotation)
        if nested is not None:
            # With a delimiter the parent's name leads (VIGIL_KAFKA__BOOTSTRAP); without one
            # the nested fields keep the flat names (VIGIL_BOOTSTRAP).
            parent = env + naming.nested_delimiter if naming.nested_delimiter else naming.prefix
            yield from _walk(nested, (*path, name), parent, naming)
            continue
        yield SettingRow(
            path=(*path, name), env=env, type=type_name(field.annotation),
            default=_default(field), bounds=_bounds(field),
            description=" ".join((field.description or "").split()),
            group=_group(model, name),
        )


def _env_name(name: str, field: FieldInfo, env_parent: str | None, naming: _EnvNaming) -> str:
    alias = _alias(field)
    if env_parent is not None:
        return env_parent + naming.shown(alias or name)
    if alias is not None:  # pydantic-settings applies no prefix to an aliased field
        return naming.shown(alias)
    return naming.shown(naming.prefix + name)


def _alias(field: FieldInfo) -> str | None:
    alias = field.validation_alias or field.alias
    if isinstance(alias, str):
        return alias
    if isinstance(alias, AliasChoices):
        first = alias.choices[0]
        return first if isinstance(first, str) else None
    return None


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel a field holds (also inside ``X | None``), else None."""
    candidates = [annotation]
    if get_origin(annotation) in (Union, types.UnionType):
        candidates = [a for a in get_args(annotation) if a is not type(None)]
    if len(candidates) == 1 and isinstance(candidates[0], type) \
            and issubclass(candidates[0], BaseModel):
        return candidates[0]
    return None


def _group(model: type[BaseModel], name: str) -> str:
    """The title of the class that declares ``name`` (a mixin's own, for mixed-in fields)."""
    for cls in model.__mro__:
        if name in inspect.get_annotations(cls):
            model = cls
            break
    doc = (model.__doc__ or "").strip().splitlines()
    return f"{model.__name__}: {doc[0].split('. ')[0].rstrip('.')}" if doc else model.__name__


def type_name(annotation: Any) -> str:
    """A type as an operator reads it: ``int``, ``float | none``, ``"f32" | "bf16"``."""
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Annotated:
        return type_name(args[0])
    if origin is Literal:
        return " | ".join(json.dumps(a.value if isinstance(a, enum.Enum) else a) for a in args)
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin in (tuple, list, set, frozenset):
        items = [a for a in args if a is not Ellipsis]
        inner = " | ".join(type_name(a) for a in items) if items else "any"
        return f"list of {inner}"
    if origin is dict:
        return f"map of {type_name(args[0])} to {type_name(args[1])}" if args else "map"
    if annotation is type(None):
        return "none"
    if annotation is SecretStr:
        return "secret str"
    if isinstance(annotation, type) and issubclass(annotation, Path):
        return "path"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " | ".join(json.dumps(member.value) for member in annotation)
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    return env_value(value)


def env_value(value: Any) -> str:
    """A value as it is written in the environment (lists as JSON, none as unset)."""
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, tuple | list | set | frozenset | dict):
        return json.dumps(list(value) if not isinstance(value, dict) else value,
                          default=str)
    return str(value)


def _bounds(field: FieldInfo) -> str:
    found: list[str] = []
    for meta in field.metadata:
        for attr, word in _BOUNDS:
            value = getattr(meta, attr, None)
            if value is not None:
                found.append(f"{word} {value}")
        pattern = getattr(meta, "pattern", None)
        if pattern is not None:
            found.append(f"pattern {_code(str(pattern))}")
    return ", ".join(found)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell: pipes escaped outside code spans (inside one,
    Python-Markdown's tables keep them, and would keep a backslash too)."""
    parts = text.replace("\n", " ").split("`")
    return "`".join(part if i % 2 else part.replace("|", "\\|") for i, part in enumerate(parts))


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def markdown_tables(rows: list[SettingRow]) -> str:
    """One table per group: the root model's own fields first (pydantic lists a mixin's
    fields before them), then the others in the order they first appear."""
    groups: dict[str, list[SettingRow]] = {}
    top = [r for r in rows if len(r.path) == 1]
    root = top[-1].group if top else None
    for row in sorted(rows, key=lambda r: r.group != root):  # stable: keeps declared order
        groups.setdefault(row.group, []).append(row)
    out: list[str] = []
    for title, members in groups.items():
        out += [f"## {title}", "", f"{len(members)} settings.", "",
                "| variable | type | default | bounds | description |",
                "|---|---|---|---|---|"]
        out += [f"| {_code(r.env)} | {_cell(r.type)} | {_cell(_code(r.default))} | "
                f"{_cell(r.bounds)} | {_cell(r.description)} |" for r in members]
        out.append("")
    return "\n".join(out)


def settings_markdown() -> str:
    """The reference for Vigil's Settings, as the docs site shows it."""
    from vigil.core.settings import Settings

    return markdown_tables(setting_rows(Settings))
