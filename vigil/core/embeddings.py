"""The face embedding every part agrees on: what the face models write, the user database
stores and the face stage compares.

FaceNet (processors/vision/embedder.py and its OpenVINO twin) writes 512 float32 values per
face, unit length (MobileFaceNet, processors/vision/mobilefacenet.py, 128); the user database
(control/users/db.py) stores a client's enrolled ones, of any one width, in a template with the
client's own threshold (vigil/core/template.py), which the face stage loads.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from vigil.core.template import Template

EMBEDDING_DIM = 512
Embeddings = npt.NDArray[np.float32]  # (k, EMBEDDING_DIM), unit rows
# client_id -> the enrolled template (embeddings and own threshold), None if not enrolled
EmbeddingLoader = Callable[[str], Template | None]
