"""Random secrets and their stored form (DESIGN §7: 256 bits, stored as SHA-256)."""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["new_token", "token_hash"]


def new_token(prefix: str = "") -> str:
    """A fresh 256-bit random token, URL-safe, with an optional readable prefix."""
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """The SHA-256 (hex) under which a token is stored and looked up.

    A fast hash is right here, unlike for passwords: the token has 256 bits of entropy, so
    nothing can be guessed from a leaked hash, and each request must look it up cheaply.
    """
    return hashlib.sha256(token.encode()).hexdigest()
