"""The face embedding every part agrees on: what the face models write, the user database
stores and the face stage compares.

FaceNet (processors/vision/embedder.py and its OpenVINO twin) writes 512 float32 values per
face, unit length; the user database (control/users/db.py) stores a client's enrolled ones as a
(k, 512) array and refuses any other width.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

EMBEDDING_DIM = 512
Embeddings = npt.NDArray[np.float32]  # (k, EMBEDDING_DIM), unit rows
EmbeddingLoader = Callable[[str], Embeddings | None]  # client_id -> enrolled, None if not
