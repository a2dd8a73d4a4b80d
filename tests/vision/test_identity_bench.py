"""`vigil bench identity` and `vigil devdata cohort` on a small identity set made of the
shared test photos (the configured detector and embedder)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from tests.vision.conftest import FACES, needs_testdata
from vigil.apps.bench.identity import format_rows, pooled, run_identity_bench
from vigil.apps.devdata.cohort import build_cohort
from vigil.core.settings import Settings

pytestmark = needs_testdata
PEOPLE = {"obama": ("obama_1.jpg", "obama_2.jpg", "obama_3.jpg"),
          "biden": ("biden_1.jpg", "biden_2.jpg"), "kit": ("kit_harington_1.jpg",)}


def identity_set(root: Path) -> Path:
    for person, names in PEOPLE.items():
        (root / person).mkdir(parents=True)
        for name in names:
            shutil.copy(FACES / name, root / person / name)
    return root


def test_the_bench_counts_every_pair_and_the_cohort_holds_every_face(
        vision_settings: Settings, tmp_path: Path) -> None:
    folder = identity_set(tmp_path / "tiny")
    (row,) = run_identity_bench(vision_settings, [folder], [vision_settings.models.face_embedder])
    assert (row.faces, row.pictures) == (6, 6)
    assert (len(row.pairs.genuine), len(row.pairs.impostor)) == (3 + 1, 15 - 4)
    # These celebrities' photos separate: every genuine pair closer than every impostor pair.
    assert row.pairs.genuine.max() < row.pairs.impostor.min()
    table = format_rows([row, *pooled([row])])
    assert "| tiny | " in table and "| all sets | " in table and "0.0% (0/4;" in table
    count, dim = build_cohort(vision_settings, [folder], tmp_path / "cohort.npy")
    cohort = np.load(tmp_path / "cohort.npy")
    assert cohort.shape == (count, dim) == (6, 512)
    assert np.allclose(np.linalg.norm(cohort, axis=1), 1.0, atol=1e-4)
