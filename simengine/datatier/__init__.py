"""The data tier's building blocks (engine part 2): plain Python and numpy, no SimPy.

Each concern is a small strategy behind a two- or three-method contract, O(1) per
operation on the request path, and deterministic: anything random takes the run's
``numpy.random.Generator``; hashing is splitmix64, never Python's salted ``hash()``.

| module | what |
| --- | --- |
| ``keycache`` | cache store: LRU, LFU, FIFO, random eviction; TTL; versions; nodes |
| ``hashring`` | ``mix64`` (splitmix64) and consistent hashing with virtual nodes |
| ``sharding`` | routers range, hash, consistent_hash, geo, directory; keys moved |
| ``replication`` | committed versions, replica lag, stale reads, modes, failover, LWW |
| ``coalesce`` | coalescing of concurrent misses (off: the stampede on expiry) |
| ``writebehind`` | write-behind buffers per cache node; lost writes on a node fault |
| ``che`` | analytic hit ratios (Che's approximation, FIFO/random, ideal LFU, TTL) |

See ``docs/datatier.md``.
"""

from __future__ import annotations

from .coalesce import MissCoalescer
from .hashring import HashRing, mix64, mix64_array
from .keycache import (
    POLICIES,
    CacheNodes,
    FifoCache,
    KeyCache,
    LfuCache,
    LruCache,
    RandomCache,
    make_cache,
)
from .replication import (
    MODES,
    FailoverResult,
    MultiPrimary,
    ReadYourWrites,
    Replication,
    mode_wait,
)
from .sharding import (
    STRATEGIES,
    ConsistentHashRouter,
    DirectoryRouter,
    GeoRouter,
    HashRouter,
    RangeRouter,
    Router,
    keys_moved_fraction,
    make_router,
    shard_shares,
)
from .writebehind import WriteBehind

__all__ = [
    "MODES",
    "POLICIES",
    "STRATEGIES",
    "CacheNodes",
    "ConsistentHashRouter",
    "DirectoryRouter",
    "FailoverResult",
    "FifoCache",
    "GeoRouter",
    "HashRing",
    "HashRouter",
    "KeyCache",
    "LfuCache",
    "LruCache",
    "MissCoalescer",
    "MultiPrimary",
    "RandomCache",
    "RangeRouter",
    "ReadYourWrites",
    "Replication",
    "Router",
    "WriteBehind",
    "keys_moved_fraction",
    "make_cache",
    "make_router",
    "mix64",
    "mix64_array",
    "mode_wait",
    "shard_shares",
]
