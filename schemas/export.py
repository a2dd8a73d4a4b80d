"""Export the event models as JSON Schema files for analytics consumers and auditors."""

from __future__ import annotations

import json
from pathlib import Path

from schemas.events import EXPORTED_MODELS

JSON_DIR = Path(__file__).parent / "json"


def schema_file_name(model: type) -> str:
    return f"{model.__name__}.schema.json"


def rendered_schemas() -> dict[str, str]:
    """File name -> JSON Schema text, exactly as written to ``schemas/json``."""
    out = {}
    for model in EXPORTED_MODELS:
        schema = model.model_json_schema()
        schema["$id"] = f"https://vigil.dev/schemas/{schema_file_name(model)}"
        out[schema_file_name(model)] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def export_json_schemas(target: Path = JSON_DIR) -> list[Path]:
    """Write every schema file into ``target``; return the paths written."""
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered_schemas().items():
        path = target / name
        path.write_text(text)
        written.append(path)
    return written
