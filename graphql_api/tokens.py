"""API tokens: generated here, shown once, stored as a SHA-256 digest.

Tokens carry 256 random bits, so a fast unsalted digest is enough: there is
nothing to guess by brute force, and a digest lookup finds the row by index.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_PREFIX = "gapi_"


def generate_token() -> str:
    """Return a new random API token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Return the hex SHA-256 digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    """Compare a presented token with a stored digest in constant time."""
    return hmac.compare_digest(hash_token(token), stored_hash)
