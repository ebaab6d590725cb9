"""Print `VAR=value` pairs for local services that answer, for `make test`.

Only fills variables that are not already set, so CI's explicit values win.
"""

from __future__ import annotations

import os
import socket


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


pairs = []
if "DATABASE_URL" not in os.environ and _answers(5432):
    pairs.append("DATABASE_URL=postgres://postgres@127.0.0.1:5432/scaleboard")
if "REDIS_URL" not in os.environ and _answers(6379):
    pairs.append("REDIS_URL=redis://127.0.0.1:6379/15")
print(" ".join(pairs))
