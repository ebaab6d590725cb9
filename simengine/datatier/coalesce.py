"""Coalescing of concurrent cache misses (``coalesce_misses``).

Contract: ``miss(key, waiter) -> bool`` says whether this miss must read the backing
store (True) or wait for a read of the same key already in flight (False; the
waiter is kept); ``filled(key) -> list`` ends the read in flight and returns the
waiters to answer with its value.

Disabled, every miss reads the backing store: when a popular key expires, every
request for it that arrives while the first read is out misses too and makes its own
read, a stampede on the backing store. For Poisson requests at rate ``lam`` and a
backing read taking ``R``, an expiry costs ``1 + lam R`` backing reads on average
instead of 1 (the first miss, plus the Poisson number that arrive during its read).
The tests check both.
"""

from __future__ import annotations

from typing import Any


class MissCoalescer:
    """Reads in flight per key, and who waits for them."""

    __slots__ = ("_waiting", "backing_reads", "coalesced", "enabled")

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._waiting: dict[int, list[Any]] = {}
        self.backing_reads = 0
        self.coalesced = 0

    def miss(self, key: int, waiter: Any) -> bool:
        """A miss on ``key``: True if the caller must read the backing store."""
        if not self.enabled:
            self.backing_reads += 1
            return True
        waiting = self._waiting.get(key)
        if waiting is None:
            self._waiting[key] = []
            self.backing_reads += 1
            return True
        waiting.append(waiter)
        self.coalesced += 1
        return False

    def filled(self, key: int) -> list[Any]:
        """The read of ``key`` is back: the waiters to answer (empty if disabled)."""
        if not self.enabled:
            return []
        return self._waiting.pop(key, [])

    def in_flight(self, key: int) -> bool:
        return key in self._waiting

    def clear(self) -> list[Any]:
        """Forget every read in flight (a node fault); returns all their waiters."""
        out = [w for ws in self._waiting.values() for w in ws]
        self._waiting.clear()
        return out
