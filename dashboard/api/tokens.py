"""API tokens: made here, hashed here, never stored in clear."""

from __future__ import annotations

import hashlib
import re
import secrets

TOKEN_PREFIX = "sb_"
TOKEN_BYTES = 32  # secrets.token_urlsafe(32): 43 URL-safe characters, 256 bits
#: What a token of ours looks like; anything else is "malformed" before the database
#: is asked.
TOKEN_RE = re.compile(r"sb_[A-Za-z0-9_-]{43}")
#: Characters of the token kept in clear to tell tokens apart in lists ("sb_" + 7).
SHOWN_CHARS = 10


def token_new() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """The SHA-256 of `token` as 64 hex digits: what the database keeps. A token has
    256 random bits, so a plain hash (no salt, no slow KDF) cannot be reversed or
    guessed, and it finds its row by a unique index."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def token_well_formed(token: str) -> bool:
    return TOKEN_RE.fullmatch(token) is not None
