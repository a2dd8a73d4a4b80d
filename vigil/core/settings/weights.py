"""Weights: where model files are fetched, mirrored and converted."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from vigil.core.settings.base import Area


class WeightsSettings(Area):
    """Where model files live."""

    dir: Path | None = Field(
        None,
        validation_alias="weights_dir",
        description="Where fetched model files live; defaults to STATE_DIR/weights.",
    )
    mirror: Path | None = Field(
        None,
        validation_alias="weights_mirror",
        description="Offline mirror folder holding the model files (tests and CI point it "
        "at ../shared/weights). Used by `vigil weights fetch` before any download.",
    )
    model_cache_dir: Path | None = Field(
        None,
        description="Where models converted for OpenVINO are cached (named by weight file, "
        "sha256 and OpenVINO release, so never stale); defaults to STATE_DIR/model-cache. "
        "Several state folders may share one.",
    )

    @property
    def path(self) -> Path:
        """The folder of fetched model files (never None once the settings are validated)."""
        assert self.dir is not None
        return self.dir

    @property
    def model_cache_path(self) -> Path:
        """The folder of models converted for OpenVINO (never None once validated)."""
        assert self.model_cache_dir is not None
        return self.model_cache_dir
