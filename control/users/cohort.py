"""The impostor cohort a new enrollment is measured against: the other enrolled clients."""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt

from control.users.client_keys import ClientForgottenError
from control.users.crypto import CryptoError
from control.users.db import UserRepository
from vigil.core.template import TemplateFormatError

log = logging.getLogger(__name__)


def enrolled_cohort(repo: UserRepository, except_client: str, dim: int
                    ) -> npt.NDArray[np.float32]:
    """Every other enrolled client's embeddings of width ``dim`` (other embedders' are
    skipped), one row per enrollment photo. Unreadable templates are logged and skipped: they
    cannot be used, and enrollment of someone else must not fail on them."""
    rows = []
    for record in repo.list_clients():
        if record.client_id == except_client or not record.enrolled:
            continue
        try:
            found = repo.embeddings(record.client_id)
        except (CryptoError, TemplateFormatError, ClientForgottenError) as exc:
            log.warning("cohort: skipped client_id=%s error=%s", record.client_id, exc)
            continue
        if found is not None and found.shape[1] == dim:
            rows.append(found)
    return np.concatenate(rows) if rows else np.zeros((0, dim), dtype=np.float32)
