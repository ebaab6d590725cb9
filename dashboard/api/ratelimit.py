"""Requests per token per minute (`API_RATE_PER_MINUTE`), counted in Django's cache.

A fixed one-minute window: the key `api-rate:<token hash head>:<minute>` is added
with a count of 0 and incremented atomically (Redis INCR with `REDIS_URL`, so every
web process shares the count; a lock in local memory otherwise, one process only).
At the edge of two windows a client may get up to twice the limit within a minute:
the price of one counter per token. A cache that does not answer lets the request
through (logged): the limit protects the service, it must not take the API down.
"""

from __future__ import annotations

import logging
import math
import time

from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)
WINDOW_S = 60


def _now() -> float:
    return time.time()


def rate_limit_hit(*, token_hash: str) -> int | None:
    """Count one request of the token; None when it is within the limit, else the
    seconds until the window ends (for `Retry-After`)."""
    limit = settings.API_RATE_PER_MINUTE
    now = _now()
    window = int(now // WINDOW_S)
    key = f"api-rate:{token_hash[:24]}:{window}"
    try:
        cache.add(key, 0, timeout=WINDOW_S * 2)
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr: this is its first request
        cache.set(key, 1, timeout=WINDOW_S * 2)
        count = 1
    except Exception as exc:  # the cache is down: let it through
        log.warning("API rate limit not counted, the cache failed: %s", exc)
        return None
    if count <= limit:
        return None
    return max(1, math.ceil((window + 1) * WINDOW_S - now))
