"""A key-level cache store: capacity in keys, an eviction policy, TTL and versions.

One class per eviction policy, all behind the same contract:

- ``get(key, now) -> version | None``: the version held for ``key``, or ``None`` on a
  miss (absent, or expired: TTL counts from when the key was written to the cache; a
  hit does not extend it; expiry is lazy, checked when the key is touched).
- ``put(key, version, now)``: store ``key`` at ``version`` (a miss being filled, or a
  write-through/write-behind write); the TTL clock starts again. When the cache is full
  and ``key`` is new, the policy picks a victim first.
- ``invalidate(key) -> bool``: drop the key (a write with ``invalidation: on_write``).
- ``clear() -> int``: drop every key (a node fault); returns how many were lost.

Versions are opaque integers stored with each entry, so the engine can tell a stale
read (the version returned is older than the database's newest committed version).

Counters: ``hits``, ``misses`` (expired keys included), ``evictions``, ``expirations``,
``invalidations``. Every operation is O(1):

- ``lru``: an ``OrderedDict`` in recency order (``move_to_end`` on a hit or a put,
  ``popitem(last=False)`` for the victim). A plain ``dict`` would make the victim scan
  past the deleted slots at its front, which is O(n) between resizes.
- ``fifo``: an ``OrderedDict`` in insertion order; a hit does not move the key and
  neither does a put on a key already present (it was not inserted again).
- ``lfu``: frequency buckets (Shah, Mitra and Matani, 2010): a count per key and an
  ``OrderedDict`` of keys per count; the victim is the least recently arrived key of
  the smallest count. Counts are kept while a key is in the cache (in-cache LFU).
- ``random``: a list of keys plus an index map; the victim is drawn with the run's
  ``numpy.random.Generator`` (uniforms drawn in blocks) and removed by swapping the
  last key into its place.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from ..document.vocabulary import EVICTIONS
from .hashring import HashRing, KeyTable

POLICIES = EVICTIONS  # the document's vocabulary, defined once
_INF = math.inf
_BLOCK = 4096


class KeyCache(ABC):
    """Shared state, counters and the lookup; subclasses implement one eviction
    policy: ``put``, what a hit does (``_hit``), and, when an entry lives in more
    than ``_d``, how one is removed (``_remove``) and what ``clear`` also empties
    (``_cleared``). ``_d`` maps a key to an entry whose ``[0]`` is the version and
    ``[1]`` the expiry time."""

    policy = ""

    __slots__ = (
        "_d",
        "capacity",
        "evictions",
        "expirations",
        "hits",
        "invalidations",
        "misses",
        "ttl_s",
    )

    def __init__(self, capacity: int, ttl_s: float | None = None) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1 key")
        if ttl_s is not None and not ttl_s > 0:
            raise ValueError("ttl_s must be > 0 (or None for no expiry)")
        self.capacity = capacity
        self.ttl_s = _INF if ttl_s is None else float(ttl_s)
        self.hits = self.misses = self.evictions = 0
        self.expirations = self.invalidations = 0

    @property
    def hit_ratio(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def reset_counters(self) -> None:
        """Zero the counters (the end of a warm-up); the contents stay."""
        self.hits = self.misses = self.evictions = 0
        self.expirations = self.invalidations = 0

    def get(self, key: int, now: float) -> int | None:
        """The cached version of ``key``, or None (a miss, or expired)."""
        e = self._d.get(key)
        if e is None:
            self.misses += 1
            return None
        if e[1] <= now:
            self._remove(key, e)
            self.expirations += 1
            self.misses += 1
            return None
        self._hit(key, e)
        self.hits += 1
        return e[0]

    @abstractmethod
    def put(self, key: int, version: int, now: float) -> None:
        """Store ``key`` at ``version``, written at ``now``; evict if full."""

    def invalidate(self, key: int) -> bool:
        """Drop ``key``; True if it was cached."""
        e = self._d.get(key)
        if e is None:
            return False
        self._remove(key, e)
        self.invalidations += 1
        return True

    def clear(self) -> int:
        """Drop every key (a node fault); returns how many were lost."""
        n = len(self._d)
        self._d.clear()
        self._cleared()
        return n

    def __len__(self) -> int:
        """Keys held now."""
        return len(self._d)

    def __contains__(self, key: int) -> bool:
        return key in self._d

    # the policy's hooks
    def _hit(self, key: int, e: Any) -> None:  # noqa: B027 (an optional hook)
        """A hit on ``key`` (default: nothing changes)."""

    def _remove(self, key: int, e: Any) -> None:
        del self._d[key]

    def _cleared(self) -> None:  # noqa: B027 (an optional hook)
        """Everything was dropped from ``_d``: empty the policy's own structures."""


class LruCache(KeyCache):
    """Least recently used: a hit or a put makes the key the most recent."""

    policy = "lru"
    __slots__ = ()

    def __init__(self, capacity: int, ttl_s: float | None = None) -> None:
        super().__init__(capacity, ttl_s)
        # key -> (version, expires_at)
        self._d: OrderedDict[int, tuple[int, float]] = OrderedDict()

    def _hit(self, key: int, e: Any) -> None:
        self._d.move_to_end(key)

    def put(self, key: int, version: int, now: float) -> None:
        d = self._d
        if key in d:
            d.move_to_end(key)
        elif len(d) >= self.capacity:
            d.popitem(last=False)
            self.evictions += 1
        d[key] = (version, now + self.ttl_s)


class FifoCache(LruCache):
    """First in, first out: the oldest inserted key leaves; hits change nothing."""

    policy = "fifo"
    __slots__ = ()

    def _hit(self, key: int, e: Any) -> None:
        """A hit does not move the key (first in, first out)."""

    def put(self, key: int, version: int, now: float) -> None:
        d = self._d
        if key not in d and len(d) >= self.capacity:
            d.popitem(last=False)
            self.evictions += 1
        d[key] = (version, now + self.ttl_s)  # an update keeps its place


class LfuCache(KeyCache):
    """Least frequently used, ties broken by the oldest arrival at that count."""

    policy = "lfu"
    __slots__ = ("_buckets", "_min")

    def __init__(self, capacity: int, ttl_s: float | None = None) -> None:
        super().__init__(capacity, ttl_s)
        # key -> [version, expires_at, count]
        self._d: dict[int, list[Any]] = {}
        # count -> keys with that count, oldest arrival first
        self._buckets: dict[int, OrderedDict[int, None]] = {}
        self._min = 0  # smallest count present (may be stale after removals)

    def _hit(self, key: int, e: list[Any]) -> None:
        """One more use: the key moves to the next count's bucket."""
        c = e[2]
        buckets = self._buckets
        b = buckets[c]
        del b[key]
        if not b:
            del buckets[c]
            if self._min == c:
                self._min = c + 1
        c += 1
        e[2] = c
        nb = buckets.get(c)
        if nb is None:
            nb = buckets[c] = OrderedDict()
        nb[key] = None

    def _remove(self, key: int, e: list[Any]) -> None:
        del self._d[key]
        c = e[2]
        b = self._buckets[c]
        del b[key]
        if not b:
            del self._buckets[c]

    def put(self, key: int, version: int, now: float) -> None:
        d = self._d
        e = d.get(key)
        if e is not None:
            e[0] = version
            e[1] = now + self.ttl_s
            self._hit(key, e)
            return
        if len(d) >= self.capacity:
            buckets = self._buckets
            m = self._min
            if m not in buckets:  # emptied by an invalidation or an expiry
                m = self._min = min(buckets)
            b = buckets[m]
            victim, _ = b.popitem(last=False)
            if not b:
                del buckets[m]
            del d[victim]
            self.evictions += 1
        d[key] = [version, now + self.ttl_s, 1]
        b = self._buckets.get(1)
        if b is None:
            b = self._buckets[1] = OrderedDict()
        b[key] = None
        self._min = 1

    def _cleared(self) -> None:
        self._buckets.clear()
        self._min = 0


class RandomCache(KeyCache):
    """Random eviction: the victim is uniform over the keys present."""

    policy = "random"
    __slots__ = ("_keys", "_rng", "_u")

    def __init__(
        self, capacity: int, ttl_s: float | None = None, *, rng: np.random.Generator
    ) -> None:
        super().__init__(capacity, ttl_s)
        # key -> [version, expires_at, index in _keys]
        self._d: dict[int, list[Any]] = {}
        self._keys: list[int] = []
        self._rng = rng
        self._u: Callable[[], float] = iter(()).__next__
        self._refill()

    def _refill(self) -> None:
        self._u = iter(self._rng.random(_BLOCK).tolist()).__next__

    def _uniform(self) -> float:
        try:
            return self._u()
        except StopIteration:
            self._refill()
            return self._u()

    def _remove(self, key: int, e: list[Any]) -> None:
        keys = self._keys
        i = e[2]
        last = keys.pop()
        if last != key:
            keys[i] = last
            self._d[last][2] = i
        del self._d[key]

    def put(self, key: int, version: int, now: float) -> None:
        d = self._d
        e = d.get(key)
        if e is not None:
            e[0] = version
            e[1] = now + self.ttl_s
            return
        keys = self._keys
        if len(keys) >= self.capacity:
            victim = keys[int(self._uniform() * len(keys))]
            self._remove(victim, d[victim])
            self.evictions += 1
        d[key] = [version, now + self.ttl_s, len(keys)]
        keys.append(key)

    def _cleared(self) -> None:
        self._keys.clear()


def make_cache(
    policy: str,
    capacity: int,
    ttl_s: float | None = None,
    *,
    rng: np.random.Generator | None = None,
) -> KeyCache:
    """A cache of the given eviction policy (``random`` needs the run's ``rng``)."""
    if policy == "lru":
        return LruCache(capacity, ttl_s)
    if policy == "fifo":
        return FifoCache(capacity, ttl_s)
    if policy == "lfu":
        return LfuCache(capacity, ttl_s)
    if policy == "random":
        if rng is None:
            raise ValueError("random eviction needs the run's numpy Generator")
        return RandomCache(capacity, ttl_s, rng=rng)
    raise ValueError(f"unknown eviction policy {policy!r}; one of {POLICIES}")


class CacheNodes(KeyTable):
    """Several cache nodes with keys spread by consistent hashing.

    ``capacity_keys`` of the document is the capacity of each node. ``node_of(key)``
    is the node a client sends ``key`` to; ``fail(node)`` empties it (its keys are
    lost: every read of them misses until they are filled again, the cold-cache load
    on the backing store) and takes it off the ring, so its keys are served, cold, by
    the next nodes round; ``recover(node)`` puts it back, empty. When every node is
    down the ring keeps the last one: check ``down`` before using a node.

    Given ``key_count`` the node of a key is remembered the first time it is asked
    (``hashring.KeyTable``; forgotten when a node fails or recovers), so ``node_of``
    of a warm key is one array read.
    """

    __slots__ = ("_n", "_table", "caches", "down", "key_count", "lost_keys", "ring")

    def __init__(
        self,
        nodes: int,
        policy: str,
        capacity: int,
        ttl_s: float | None = None,
        *,
        rng: np.random.Generator | None = None,
        vnodes: int = 256,
        key_count: int | None = None,
    ) -> None:
        self.caches = [
            make_cache(policy, capacity, ttl_s, rng=rng) for _ in range(nodes)
        ]
        self.ring = HashRing(range(nodes), vnodes)
        self.down: set[int] = set()
        self.lost_keys = 0
        self.key_count = key_count
        self._tabulate(key_count, nodes)

    node_of = KeyTable._tabled

    def _route(self, key: int) -> int:
        return self.ring.node_for(key)

    def cache_for(self, key: int) -> KeyCache:
        return self.caches[self.node_of(key)]

    def fail(self, node: int) -> int:
        """Node ``node`` dies: its keys are lost (returned and counted)."""
        lost = self.caches[node].clear()
        self.lost_keys += lost
        if node not in self.down:
            self.down.add(node)
            if len(self.down) < len(self.caches):
                self.ring.remove(node)
                self._tabulate(self.key_count, len(self.caches))
        return lost

    def recover(self, node: int) -> None:
        if node in self.down:
            self.down.discard(node)
            self.ring.add(node)
            self._tabulate(self.key_count, len(self.caches))

    def counter(self, name: str) -> int:
        """A counter summed over the nodes (``hits``, ``misses``, ``evictions``...)."""
        return sum(getattr(c, name) for c in self.caches)
