"""`vigil devdata cohort SET_DIR ... --out FILE.npy`: an impostor cohort of public faces.

Embeds the largest face of every picture of the identity sets with the configured face
detector and embedder (as the face stage would) and writes the N x dim float32 rows to a .npy
file outside git. Point the ``identity_cohort_file`` setting at it and each enrollment measures
the new client's own threshold against these faces as well as the other enrolled clients
(control/thresholds.py). Built for one embedder: after changing ``face_embedder`` build it
again (enrollment refuses a file of the wrong width).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import cast

import numpy as np

from processors.vision.base import FacePlugin
from processors.vision.device import select_device
from processors.vision.registry import load_plugin, uses_torch
from vigil.apps.bench.identity import embed_all, find_faces, load_detector
from vigil.core.settings import Settings

log = logging.getLogger(__name__)


def build_cohort(settings: Settings, folders: list[Path], out: Path) -> tuple[int, int]:
    """Write the cohort file; returns (embeddings written, their width)."""
    device = select_device(settings, uses_torch("face_embedder", settings))
    embedder = cast(FacePlugin[np.ndarray], load_plugin("face_embedder", settings, device))
    detector = load_detector(settings)
    rows = []
    for folder in folders:
        faces, pictures = find_faces(settings, folder, detector)
        rows.append(embed_all(embedder, faces)[0])
        log.info("cohort set=%s faces=%d pictures=%d", folder.name, len(faces), pictures)
    cohort = np.concatenate(rows).astype(np.float32)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, cohort, allow_pickle=False)
    return len(cohort), int(cohort.shape[1])
