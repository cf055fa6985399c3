"""Personal-link tokens: unguessable, stored only as a keyed hash bound to one purpose, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

PURPOSES = ("register", "manage", "confirm", "survey", "unsubscribe", "notes")


def new_token() -> str:
    """256 bits from the OS's CSPRNG, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(secret_key: str, purpose: str, token: str) -> str:
    """HMAC-SHA256 over purpose and token: a token minted for one purpose never matches another's hash."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    return hmac.new(secret_key.encode(), f"{purpose}\x00{token}".encode(), hashlib.sha256).hexdigest()


def verify(secret_key: str, purpose: str, token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(token_hash(secret_key, purpose, token), stored_hash)
