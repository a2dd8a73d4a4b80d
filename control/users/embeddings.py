"""Enrolled embeddings for the face processor, read from the user database and decrypted."""

from __future__ import annotations

import logging

from control.users.client_keys import ClientForgottenError
from control.users.crypto import CryptoError
from control.users.repository import open_repository
from vigil.core.embeddings import EmbeddingLoader
from vigil.core.settings import Settings
from vigil.core.template import Template, TemplateFormatError

log = logging.getLogger(__name__)

def enrolled_embeddings_loader(settings: Settings) -> EmbeddingLoader:
    """A function client_id -> the enrolled template (k x dim unit rows and the client's own
    threshold), or None when not enrolled.

    The database is opened once and shared by the calls (it is thread-safe). A blob that does
    not decrypt (wrong key, altered file) is logged and treated as not enrolled, so the
    decision says so rather than the stage stopping; so is a client that was forgotten.
    """
    repo = open_repository(settings)

    def load(client_id: str) -> Template | None:
        try:
            return repo.template(client_id)
        except (CryptoError, TemplateFormatError) as exc:
            log.error("enrolled embeddings unreadable client_id=%s error=%s", client_id, exc)
            return None
        except ClientForgottenError as exc:
            log.info("no embeddings client_id=%s: %s", client_id, exc)
            return None

    return load
