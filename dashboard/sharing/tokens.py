"""Share tokens: made here, hashed here, never stored in clear."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 32  # secrets.token_urlsafe(32): 43 URL-safe characters, 256 bits
HINT_CHARS = 4
#: What a token in a URL may look like (the path converter's regex): anything
#: else is not a token this app made, and 404s before the database is asked.
TOKEN_REGEX = r"[A-Za-z0-9_-]{20,100}"


def token_new() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """The SHA-256 of `token` as 64 hex digits: what the database keeps. A token
    has 256 random bits, so a plain hash (no salt, no slow KDF) cannot be reversed
    or guessed, and it lets a visit find its row by a unique index."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenConverter:
    """`<share_token:token>` in URL patterns."""

    regex = TOKEN_REGEX

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
