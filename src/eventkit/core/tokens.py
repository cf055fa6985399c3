"""Personal-link tokens: unguessable, stored only as a keyed hash bound to one purpose, compared in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PURPOSES = ("register", "manage", "confirm", "survey", "unsubscribe", "notes", "recap")


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


def new_nonce() -> str:
    return secrets.token_hex(16)


def signed_token(secret_key: str, purpose: str, subject_id: int, nonce: str) -> str:
    """A personal link token '<id>.<mac>' for one purpose and one record (a registration, say).

    The MAC is HMAC-SHA256 over purpose, id and the record's stored nonce: unguessable without the secret
    key, bound to its purpose and record, re-sendable (nothing secret is stored) and revoked by a new nonce.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    mac = hmac.new(secret_key.encode(), f"{purpose}\x00{subject_id}\x00{nonce}".encode(), hashlib.sha256)
    return f"{subject_id}.{base64.urlsafe_b64encode(mac.digest()).rstrip(b'=').decode()}"


def token_subject(token: str) -> int | None:
    """The record id a signed token claims (unverified); None when the token has not the right shape."""
    head, sep, mac = token.partition(".")
    if not sep or not head.isdigit() or len(head) > 18 or not 20 <= len(mac) <= 64:
        return None
    return int(head)


def verify_signed(secret_key: str, purpose: str, token: str, subject_id: int, nonce: str) -> bool:
    if not nonce or not token.isascii():
        return False
    return hmac.compare_digest(signed_token(secret_key, purpose, subject_id, nonce).encode(), token.encode())
