"""Shard routers: which shard holds a key. One small class per strategy.

Contract (every router):

- ``shard_for(key, region=0) -> int``: the shard of one key (``region`` is the index
  of the client's region in ``workload.regions``, in document order; only ``geo``
  uses it).
- ``shards_for(keys, region=0) -> numpy array``: the same for an integer array.
- ``rebalanced(add) -> Router``: the router after adding ``add`` shards (new shards
  get the next ids, ``count .. count + add - 1``).
- ``count`` (shards) and ``lookup_ms`` (the cost of a lookup the engine charges to the
  request: ``directory_ms`` for ``directory``, 0 for the others).

Keys are the workload's key numbers ``0 .. key_count - 1``; key 0 is the most popular
unless the workload shuffles them. Strategies:

- ``range``: shard ``i`` holds the keys below its upper bound, ``ranges`` in the
  document (``count - 1`` increasing bounds; default equal splits). A skewed workload
  makes the first range the hotspot. Adding a shard splits the widest range in half
  and the upper half moves to the new shard, one shard at a time (a range store
  splits and moves; it never renumbers everything).
- ``hash``: ``mix64(key) % count`` (splitmix64, so consecutive keys spread). Even, but
  adding a shard to ``n`` moves ``n/(n+1)`` of the keys.
- ``consistent_hash``: a ring with 256 virtual nodes per shard; adding a shard to ``n``
  moves about ``1/(n+1)`` of the keys, all to the new shard.
- ``geo``: by the client's region, not the key. With ``m`` regions (document order)
  and ``count >= m`` shards, shard ``j`` serves region ``j % m`` and a region with
  ``k`` shards splits its keys among them round robin by key number (``key % k``:
  keys are numbered by popularity, so this spreads the popular ones evenly); with
  fewer shards than regions region ``r`` goes to shard ``r % count``. No regions: one
  region. ``region_weights`` (the clients' shares) weigh the regions in
  ``keys_moved_fraction``.
- ``directory``: a lookup table key -> shard (2 bytes a key), filled like ``hash``;
  adding shards moves exactly the keys the new shards need (each key moves with
  probability ``add/(n+add)``, chosen by its hash), and every request pays
  ``directory_ms`` for the lookup.

Speed: ``range`` (with more than one shard), ``hash`` and ``consistent_hash`` given a
``key_count`` up to ``hashring.TABLE_MAX_KEYS`` (2**24) are ``TabledRouter``s: they
remember the shard of each key in a ``hashring.KeyTable`` (2 bytes a key, filled the
first time a key is routed), so ``shard_for`` of a warm key is one array read
whatever the number of shards. Beyond that, or without ``key_count``, ``range``
bisects its ``count - 1`` bounds and the hashes are computed per call (~0.5 us for
splitmix64 in Python, ~1 us on the ring). ``directory`` is a full table by
definition; ``geo`` is a modulo.

``keys_moved_fraction(old, new, key_count)`` counts exactly, over the whole key space
(and the regions, for geo), the share of keys whose shard changed: vectorised in
chunks of 2**20 keys, so 10M keys take well under a second in bounded memory (about
0.5-1 s on the ring).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from array import array
from bisect import bisect_right
from collections.abc import Sequence

import numpy as np

from ..document.vocabulary import SHARD_STRATEGIES
from .hashring import HashRing, KeyTable, mix64, mix64_array

STRATEGIES = SHARD_STRATEGIES  # the document's vocabulary, defined once
CHUNK = 1 << 20


class Router(ABC):
    """The shared shape of a shard router."""

    strategy = ""
    lookup_ms = 0.0
    count: int
    region_weights: tuple[float, ...] = (1.0,)

    @abstractmethod
    def shard_for(self, key: int, region: int = 0) -> int:
        """The shard of one key (``region``: the client's, for geo)."""

    @abstractmethod
    def shards_for(self, keys: np.ndarray, region: int = 0) -> np.ndarray:
        """The shards of many keys at once (vectorised)."""

    @abstractmethod
    def rebalanced(self, add: int) -> Router:
        """The router after adding ``add`` shards."""


class TabledRouter(KeyTable, Router):
    """A router that remembers each key's shard (see ``hashring.KeyTable``)."""

    shard_for = KeyTable._tabled


class RangeRouter(TabledRouter):
    """Keys below ``bounds[0]`` on shard ``owners[0]``, and so on."""

    strategy = "range"
    __slots__ = (
        "_bounds_np",
        "_n",
        "_owners_np",
        "_table",
        "bounds",
        "count",
        "key_count",
        "owners",
    )

    def __init__(
        self,
        count: int,
        key_count: int,
        bounds: Sequence[int] | None = None,
        owners: Sequence[int] | None = None,
    ) -> None:
        if bounds is None:
            bounds = [key_count * (i + 1) // count for i in range(count - 1)]
        if len(bounds) != count - 1 or list(bounds) != sorted(bounds):
            raise ValueError("range needs count - 1 increasing upper bounds")
        self.count = count
        self.key_count = key_count
        self.bounds = list(bounds)
        self.owners = list(owners) if owners is not None else list(range(count))
        self._bounds_np = np.asarray(self.bounds, dtype=np.int64)
        self._owners_np = np.asarray(self.owners, dtype=np.int64)
        # one shard needs no table
        self._tabulate(key_count if count > 1 else None, count)

    def _route(self, key: int) -> int:
        return self.owners[bisect_right(self.bounds, key)]

    def shards_for(self, keys: np.ndarray, region: int = 0) -> np.ndarray:
        return self._owners_np[np.searchsorted(self._bounds_np, keys, "right")]

    def rebalanced(self, add: int) -> RangeRouter:
        bounds, owners = list(self.bounds), list(self.owners)
        count = self.count
        for _ in range(add):
            edges = [0, *bounds, self.key_count]
            widths = [edges[i + 1] - edges[i] for i in range(len(edges) - 1)]
            i = max(range(len(widths)), key=lambda j: (widths[j], -j))
            mid = edges[i] + widths[i] // 2
            # range i becomes [lo, mid) on its old shard and [mid, hi) on the new one
            bounds.insert(i, mid)
            owners.insert(i + 1, count)
            count += 1
        return RangeRouter(count, self.key_count, bounds, owners)


class HashRouter(TabledRouter):
    """``mix64(key) % count``."""

    strategy = "hash"
    __slots__ = ("_n", "_table", "count", "key_count")

    def __init__(self, count: int, key_count: int | None = None) -> None:
        self.count = count
        self.key_count = key_count
        self._tabulate(key_count, count)

    def _route(self, key: int) -> int:
        return mix64(key) % self.count

    def shards_for(self, keys: np.ndarray, region: int = 0) -> np.ndarray:
        return (mix64_array(keys) % np.uint64(self.count)).astype(np.int64)

    def rebalanced(self, add: int) -> HashRouter:
        return HashRouter(self.count + add, self.key_count)


class ConsistentHashRouter(TabledRouter):
    """A hash ring with ``vnodes`` points per shard."""

    strategy = "consistent_hash"
    __slots__ = ("_n", "_table", "count", "key_count", "ring")

    def __init__(
        self, count: int, vnodes: int = 256, key_count: int | None = None
    ) -> None:
        self.count = count
        self.key_count = key_count
        self.ring = HashRing(range(count), vnodes)
        self._tabulate(key_count, count)

    def _route(self, key: int) -> int:
        return self.ring.node_for(key)

    def shards_for(self, keys: np.ndarray, region: int = 0) -> np.ndarray:
        return self.ring.nodes_for(keys)

    def rebalanced(self, add: int) -> ConsistentHashRouter:
        return ConsistentHashRouter(self.count + add, self.ring.vnodes, self.key_count)


class GeoRouter(Router):
    """By client region; a region with several shards splits its keys by hash."""

    strategy = "geo"
    __slots__ = ("_of_region", "count", "region_weights", "regions")

    def __init__(
        self,
        count: int,
        regions: Sequence[str] = ("default",),
        region_weights: Sequence[float] | None = None,
    ) -> None:
        self.count = count
        self.regions = tuple(regions) or ("default",)
        m = len(self.regions)
        if region_weights is None:
            region_weights = [1.0 / m] * m
        self.region_weights = tuple(float(w) for w in region_weights)
        if count >= m:
            self._of_region = [list(range(r, count, m)) for r in range(m)]
        else:
            self._of_region = [[r % count] for r in range(m)]

    def shards_of_region(self, region: int) -> list[int]:
        return list(self._of_region[region])

    def shard_for(self, key: int, region: int = 0) -> int:
        own = self._of_region[region]
        return own[key % len(own)]

    def shards_for(self, keys: np.ndarray, region: int = 0) -> np.ndarray:
        own = np.asarray(self._of_region[region], dtype=np.int64)
        return own[np.asarray(keys, dtype=np.int64) % own.size]

    def rebalanced(self, add: int) -> GeoRouter:
        return GeoRouter(self.count + add, self.regions, self.region_weights)


class DirectoryRouter(Router):
    """A lookup table key -> shard; each lookup costs ``lookup_ms``."""

    strategy = "directory"
    __slots__ = ("count", "key_count", "lookup_ms", "table")

    def __init__(
        self, count: int, key_count: int, lookup_ms: float = 1.0, table=None
    ) -> None:
        if count > 65535:
            raise ValueError("directory supports up to 65535 shards")
        self.count = count
        self.key_count = key_count
        self.lookup_ms = float(lookup_ms)
        if table is None:
            table = array("H")
            hashed = HashRouter(count)
            for lo in range(0, key_count, CHUNK):
                keys = np.arange(lo, min(lo + CHUNK, key_count), dtype=np.int64)
                table.frombytes(hashed.shards_for(keys).astype(np.uint16).tobytes())
        self.table = table

    def shard_for(self, key: int, region: int = 0) -> int:
        return self.table[key]

    def shards_for(self, keys: np.ndarray, region: int = 0) -> np.ndarray:
        view = np.frombuffer(self.table, dtype=np.uint16)
        return view[np.asarray(keys, dtype=np.int64)].astype(np.int64)

    def rebalanced(self, add: int) -> DirectoryRouter:
        """Move a key to a new shard iff ``mix64(key) % (n + add) >= n``.

        That moves each key with probability ``add / (n + add)``, spreads the moved
        keys evenly over the new shards and takes them evenly from the old ones.
        """
        n, total = self.count, self.count + add
        table = array("H", bytes(len(self.table) * 2))
        new = np.frombuffer(table, dtype=np.uint16)
        old = np.frombuffer(self.table, dtype=np.uint16)
        for lo in range(0, self.key_count, CHUNK):
            hi = min(lo + CHUNK, self.key_count)
            h = mix64_array(np.arange(lo, hi, dtype=np.int64)) % np.uint64(total)
            moved = h >= np.uint64(n)
            new[lo:hi] = np.where(moved, h.astype(np.uint16), old[lo:hi])
        return DirectoryRouter(total, self.key_count, self.lookup_ms, table)


def make_router(
    strategy: str,
    count: int,
    key_count: int,
    *,
    ranges: Sequence[int] | None = None,
    directory_ms: float = 1.0,
    regions: Sequence[str] = (),
    region_weights: Sequence[float] | None = None,
) -> Router:
    """A router from the document's ``shards`` fields and the workload's keys."""
    if strategy == "range":
        return RangeRouter(count, key_count, ranges)
    if strategy == "hash":
        return HashRouter(count, key_count)
    if strategy == "consistent_hash":
        return ConsistentHashRouter(count, key_count=key_count)
    if strategy == "geo":
        return GeoRouter(count, regions or ("default",), region_weights)
    if strategy == "directory":
        return DirectoryRouter(count, key_count, directory_ms)
    raise ValueError(f"unknown shard strategy {strategy!r}; one of {STRATEGIES}")


def keys_moved_fraction(
    old: Router, new: Router, key_count: int, chunk: int = CHUNK
) -> float:
    """The share of the key space whose shard differs between two routers.

    Exact: every key ``0 .. key_count - 1`` is routed by both, ``chunk`` keys at a time
    (memory bounded by the chunk). For ``geo`` each region counts with its weight.
    """
    weights = old.region_weights
    total = 0.0
    for region, weight in enumerate(weights):
        moved = 0
        for lo in range(0, key_count, chunk):
            hi = min(lo + chunk, key_count)
            a = _chunk(old, lo, hi, region)
            b = _chunk(new, lo, hi, region)
            moved += int(np.count_nonzero(a != b))
        total += weight * moved / key_count
    return total


def _chunk(router: Router, lo: int, hi: int, region: int) -> np.ndarray:
    """The shards of keys lo..hi-1 (a directory's table is read as it is)."""
    if isinstance(router, DirectoryRouter):
        return np.frombuffer(router.table, dtype=np.uint16)[lo:hi]
    return router.shards_for(np.arange(lo, hi, dtype=np.int64), region)


def shard_shares(
    router: Router, key_count: int, p: np.ndarray | None = None, chunk: int = CHUNK
) -> np.ndarray:
    """Each shard's share of requests when key ``k`` is requested with ``p[k]``.

    ``p`` None: uniform keys. Region weights apply as in ``keys_moved_fraction``.
    """
    out = np.zeros(router.count, dtype=np.float64)
    for region, weight in enumerate(router.region_weights):
        for lo in range(0, key_count, chunk):
            hi = min(lo + chunk, key_count)
            s = router.shards_for(np.arange(lo, hi, dtype=np.int64), region)
            w = None if p is None else p[lo:hi]
            out += weight * np.bincount(s, weights=w, minlength=router.count)
    if p is None:
        out /= key_count
    return out
