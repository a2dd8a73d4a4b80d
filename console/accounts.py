"""Console accounts: a credential shown once, stored only as a salted scrypt hash.

A credential is 24 random bytes (urlsafe base64, 32 characters). Its stored form is
``scrypt$N$r$p$SALT$HASH`` (salt and hash in base64). With that much entropy a fast hash would
do, as for client tokens; scrypt is here so that a copy of the database alone never helps
anyone guess a weaker credential set by hand later.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from control.users.db import AuditorRecord, AuditorRole, UserRepository
from control.users.tokens import new_token
from vigil.core.errors import VigilError

CREDENTIAL_BYTES = 24
SALT_BYTES = 16
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1  # about 16 MiB and a few tens of ms per check
HASH_BYTES = 32
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9._-]{0,63}$")
# Hashed when the account does not exist, so an unknown name costs as much as a wrong one.
_DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 43 + "="


class AccountError(VigilError, ValueError):
    """A console account that cannot be made as asked; the message says why."""


def check_name(name: str) -> str:
    """The name if it is a valid account name, else AccountError saying what is allowed."""
    if not NAME_PATTERN.fullmatch(name):
        raise AccountError(f"account name {name!r}: use 1-64 of a-z 0-9 . _ -, starting with "
                           "a letter")
    return name


def new_credential() -> str:
    """A fresh credential to give to the account's owner (never stored as is)."""
    return new_token(CREDENTIAL_BYTES)


def _scrypt(credential: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(credential.encode(), salt=salt, n=n, r=r, p=p, dklen=HASH_BYTES,
                          maxmem=256 * 1024 * 1024)


def hash_credential(credential: str) -> str:
    """The stored form of a credential, with a fresh random salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(credential, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P),
                     base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])


def credential_matches(credential: str, stored: str | None) -> bool:
    """Whether ``credential`` hashes to ``stored``; constant time, False when none stored."""
    scheme, n, r, p, salt, digest = (stored or _DUMMY_HASH).split("$")
    if scheme != "scrypt":
        raise AccountError(f"unknown credential hash scheme {scheme!r}")
    computed = _scrypt(credential, base64.b64decode(salt), int(n), int(r), int(p))
    return stored is not None and hmac.compare_digest(computed, base64.b64decode(digest))


def add_account(repo: UserRepository, name: str, role: AuditorRole) -> str:
    """Create a console account; returns its credential, which is not kept anywhere."""
    credential = new_credential()
    repo.add_auditor(check_name(name), role, hash_credential(credential))
    return credential


def authenticate(repo: UserRepository, name: str, credential: str) -> AuditorRecord | None:
    """The account when name and credential match, else None (same cost either way)."""
    record = repo.get_auditor(name) if NAME_PATTERN.fullmatch(name) else None
    matches = credential_matches(credential, record.credential_hash if record else None)
    return record if matches else None
