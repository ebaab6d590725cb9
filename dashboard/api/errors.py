"""The API's own errors: raised by the endpoints, answered as JSON (api.py)."""

from __future__ import annotations

#: Deepest nesting a request body may have (the bodies here are flat objects).

# --- Errors ------------------------------------------------------------------------


class Unauthorized(Exception):
    """No usable token: a 401 saying why."""


class RateLimited(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(retry_after_s)
        self.retry_after_s = retry_after_s


class BadInput(Exception):
    """A request field that cannot be taken: a 400 naming it."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message
