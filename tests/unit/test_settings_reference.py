"""The generated settings reference names variables the loader really reads, nested or not."""

from __future__ import annotations

import os
import typing
from pathlib import Path
from typing import Any, Literal

import markdown
import pytest
from pydantic import AliasChoices, BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from vigil.apps.settings_reference import (
    SettingRow,
    markdown_tables,
    setting_rows,
    settings_markdown,
    type_name,
)
from vigil.core.settings import Settings, SettingsError, load_settings, reject_unknown_env


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.upper().startswith("VIGIL_"):
            monkeypatch.delenv(key)


def _field_at(model: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        model = getattr(model, name)
    return model


def _other_value(row: SettingRow, current: Any) -> tuple[str, Any] | None:
    """An environment value unlike the default, and what it parses to; None for types this
    check leaves to the others (str, lists, secrets)."""
    choices = [c.strip('"') for c in row.type.split(" | ")] if row.type.startswith('"') else []
    if choices:
        other = next(c for c in choices if c != str(current))
        return other, other
    if row.type == "bool":
        return ("false", False) if current else ("true", True)
    if row.type in ("int", "float", "int | none", "float | none"):
        base = current if current is not None else 1
        value = base + 1 if "int" in row.type else base + 0.25
        return str(value), value
    if row.type.startswith("path"):
        return "/tmp/vigil-reference-check", Path("/tmp/vigil-reference-check")
    return None


def test_every_setting_is_listed_once_with_a_description() -> None:
    rows = setting_rows(Settings)
    envs = [r.env for r in rows]
    assert len(envs) == len(set(envs))
    assert {r.path[-1] for r in rows} >= set(Settings.model_fields) - {
        name for name, f in Settings.model_fields.items()
        if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)}
    undocumented = [r.env for r in rows if not r.description]
    assert not undocumented, f"settings without a description: {undocumented}"


def test_every_variable_shown_is_one_the_loader_accepts() -> None:
    for row in setting_rows(Settings):
        reject_unknown_env({row.env: ""})  # raises SettingsError for a name it does not know


def test_every_scalar_variable_shown_reaches_its_setting(clean_env: None,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = load_settings()
    checked = 0
    for row in setting_rows(Settings):
        other = _other_value(row, _field_at(defaults, row.path))
        if other is None:
            continue
        raw, expected = other
        monkeypatch.setenv(row.env, raw)
        try:
            value = _field_at(load_settings(), row.path)
        except SettingsError as exc:  # out of range, or against another setting: still read
            assert row.path[-1] in str(exc) and "unknown setting" not in str(exc), str(exc)
        else:
            assert value == expected, f"{row.env}={raw} gave {value!r}"
        monkeypatch.delenv(row.env)
        checked += 1
    assert checked >= len(setting_rows(Settings)) // 2


class _Kafka(BaseModel):
    """Kafka. Where the brokers are."""

    bootstrap: str = Field("127.0.0.1:9092", description="Brokers.")
    partitions: int = Field(12, ge=1, le=1000, description="Partitions.")


class _Nested(BaseSettings):
    """Nested settings."""

    model_config = SettingsConfigDict(env_prefix="T_", env_nested_delimiter="__")
    kafka: _Kafka = _Kafka()
    mode: Literal["a", "b"] = Field("a", description="Mode.")
    key: str = Field("", validation_alias=AliasChoices("T_SECRET", "T_KEY"), description="K.")


class _Flat(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="T_")
    kafka: _Kafka = _Kafka()


def test_nested_models_are_walked_with_pydantic_settings_names(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rows = {r.path: r for r in setting_rows(_Nested)}
    assert rows[("kafka", "partitions")].env == "T_KAFKA__PARTITIONS"
    assert rows[("kafka", "partitions")].bounds == ">= 1, <= 1000"
    assert rows[("kafka", "partitions")].group == "_Kafka: Kafka"
    assert rows[("key",)].env == "T_SECRET"
    # The names shown are the ones pydantic-settings reads.
    monkeypatch.setenv("T_KAFKA__PARTITIONS", "7")
    monkeypatch.setenv("T_SECRET", "s")
    loaded = _Nested()
    assert loaded.kafka.partitions == 7 and loaded.key == "s"
    assert [r.env for r in setting_rows(_Flat)] == ["T_BOOTSTRAP", "T_PARTITIONS"]


def test_types_read_as_an_operator_writes_them() -> None:
    assert type_name(int | None) == "int | none"
    assert type_name(Literal["f32", "bf16"]) == '"f32" | "bf16"'
    assert type_name(tuple[Literal["whole", "tiled"], ...]) == 'list of "whole" | "tiled"'
    assert type_name(typing.Optional[Path]) == "path | none"  # noqa: UP045 (the old spelling)


def test_the_tables_render_one_row_per_setting_with_five_cells() -> None:
    rows = setting_rows(_Nested)
    html = markdown.markdown(markdown_tables(rows), extensions=["tables"])
    assert html.count("<tr>") == len(rows) + 2  # a header row per table (two groups)
    assert html.count("<td") == 5 * len(rows)  # a pipe in a type split no cell
    page = markdown.markdown(settings_markdown(), extensions=["tables"])
    for row in setting_rows(Settings):
        assert f"<td><code>{row.env}</code></td>" in page
