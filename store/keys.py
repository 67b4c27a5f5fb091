"""API keys: random tokens, kept only as hashes, with a role.

A token reads ``fxs_<key id>_<secret>``: the key id (12 hex digits) finds the row, the
SHA-256 of the whole token is compared with :func:`hmac.compare_digest` (constant time).
The token is shown once, when the key is made; the store never holds it. Tokens carry 256
bits of randomness (:func:`secrets.token_urlsafe`), so a fast hash is enough: there is no
password to guess.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from enum import StrEnum

_TOKEN = re.compile(r"^fxs_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


class Role(StrEnum):
    """What a key may do: ``reader`` reads and computes, ``writer`` also writes new versions,
    ``admin`` also retires sets and markets."""

    READER = "reader"
    WRITER = "writer"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        return _RANK[self] >= _RANK[needed]


_RANK = {Role.READER: 0, Role.WRITER: 1, Role.ADMIN: 2}


def new_token() -> tuple[str, str]:
    """(key id, token) for a new key."""
    key_id = secrets.token_hex(6)
    return key_id, f"fxs_{key_id}_{secrets.token_urlsafe(32)}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def key_id_of(token: str) -> str | None:
    """The key id a well-formed token carries; None for anything else."""
    match = _TOKEN.match(token)
    return match.group(1) if match else None


def matches(token: str, stored_hash: str) -> bool:
    """Whether ``token`` hashes to ``stored_hash``, compared in constant time."""
    return hmac.compare_digest(token_hash(token), stored_hash)
