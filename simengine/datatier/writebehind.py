"""A write-behind buffer: writes wait in the cache node and reach the backing store in
batches, every ``flush_interval_s``.

Contract: ``write(node, key, version)`` buffers a write on a cache node;
``flush(node) -> {key: version}`` empties the node's buffer and returns the batch
the engine sends to the backing store (several writes to one key between two
flushes become one backing write: the newest version, which is how write-behind
saves backing load); ``fail(node) -> int`` loses the buffer with the node and returns
the number of writes lost (every acknowledged write not yet flushed, not just the
distinct keys); counted in ``lost_writes``.

Flushes happen at ``k * flush_interval_s`` for k = 1, 2, ... on every node
(``next_flush(now)``); the engine runs them from one SimPy process. A node that is
down takes no writes (the engine sends them elsewhere or fails them).
"""

from __future__ import annotations

import math


class WriteBehind:
    """Per-node buffers of writes not yet in the backing store."""

    __slots__ = (
        "_buffers",
        "_counts",
        "flush_interval_s",
        "flushed_batches",
        "flushed_writes",
        "lost_keys",
        "lost_writes",
    )

    def __init__(self, nodes: int, flush_interval_s: float) -> None:
        if flush_interval_s <= 0:
            raise ValueError("flush_interval_s must be > 0")
        self.flush_interval_s = float(flush_interval_s)
        self._buffers: list[dict[int, int]] = [{} for _ in range(nodes)]
        self._counts = [0] * nodes  # writes buffered since the last flush
        self.lost_writes = 0
        self.lost_keys = 0
        self.flushed_writes = 0  # client writes that reached the backing store
        self.flushed_batches = 0  # backing writes made (one per key per flush)

    def write(self, node: int, key: int, version: int) -> None:
        """Buffer a write of ``key`` at ``version`` on ``node``."""
        self._buffers[node][key] = version
        self._counts[node] += 1

    def pending(self, node: int) -> int:
        """Writes on ``node`` that a fault now would lose."""
        return self._counts[node]

    def pending_version(self, node: int, key: int) -> int | None:
        """The buffered (not yet flushed) version of ``key`` on ``node``, if any."""
        return self._buffers[node].get(key)

    def flush(self, node: int) -> dict[int, int]:
        """Empty ``node``'s buffer; the {key: version} returned go to the backing
        store."""
        batch = self._buffers[node]
        if not batch:
            return batch
        self._buffers[node] = {}
        self.flushed_writes += self._counts[node]
        self.flushed_batches += len(batch)
        self._counts[node] = 0
        return batch

    def fail(self, node: int) -> int:
        """``node`` dies: its unflushed writes are lost. Returns how many."""
        lost = self._counts[node]
        self.lost_writes += lost
        self.lost_keys += len(self._buffers[node])
        self._buffers[node] = {}
        self._counts[node] = 0
        return lost

    def next_flush(self, now: float) -> float:
        """The first flush time strictly after ``now``."""
        k = math.floor(now / self.flush_interval_s) + 1
        return k * self.flush_interval_s
