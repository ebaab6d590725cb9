"""A fast deterministic 64-bit hash of integers, and consistent hashing with vnodes.

``mix64`` is splitmix64's finaliser (Steele, Lea and Flood, 2014): a bijection of the
64-bit integers whose output bits each depend on every input bit. ``mix64_array`` is
the same function on numpy ``uint64`` arrays (bit-for-bit equal), for bulk work such as
counting the keys a rebalance moves. Python's ``hash()`` is never used: it is salted
per process for strings, and the identity for small ints.

``HashRing`` is consistent hashing (Karger et al., 1997) with virtual nodes: every node
owns ``vnodes`` points on the 64-bit circle and a key belongs to the first point at or
after its hash, going round. Adding a node to ``n`` moves about ``1/(n+1)`` of the keys,
all of them to the new node. A lookup is O(1) on average: a table indexed by the top 16
bits of the hash narrows the binary search to the few points in that slice of the
circle, so the cost stays flat from 1 to thousands of nodes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from array import array
from bisect import bisect_left
from collections.abc import Iterable

import numpy as np

MASK64 = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_TABLE_BITS = 16
_SHIFT = 64 - _TABLE_BITS
#: Key spaces up to this size may get a key -> node table (2 bytes a key).
TABLE_MAX_KEYS = 1 << 24
#: A table entry not computed yet (so a table serves up to 65535 nodes).
UNKNOWN = 0xFFFF
_UNKNOWN_ENTRY = array("H", [UNKNOWN])


def mix64(x: int) -> int:
    """splitmix64 of one integer (taken modulo 2**64): a uint64 as a Python int."""
    z = (x + _GAMMA) & MASK64
    z = ((z ^ (z >> 30)) * _M1) & MASK64
    z = ((z ^ (z >> 27)) * _M2) & MASK64
    return z ^ (z >> 31)


def mix64_array(x: np.ndarray) -> np.ndarray:
    """splitmix64 of every element (any integer dtype), as a new ``uint64`` array."""
    z = np.asarray(x).astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        z += np.uint64(_GAMMA)
        z ^= z >> np.uint64(30)
        z *= np.uint64(_M1)
        z ^= z >> np.uint64(27)
        z *= np.uint64(_M2)
        z ^= z >> np.uint64(31)
    return z


def _point(node: int, vnode: int) -> int:
    # Two rounds so node 1's points are unrelated to node 0's shifted by one.
    return mix64(mix64(node) ^ (vnode * _GAMMA & MASK64))


class HashRing:
    """Consistent hashing of integer keys onto integer node ids.

    Contract: ``node_for(key) -> node``, ``add(node)``, ``remove(node)``; plus
    ``nodes_for(keys)`` for numpy arrays of keys (the same answers, vectorised).
    """

    __slots__ = ("_lo", "_nodes", "_owners", "_points", "_points_np", "vnodes")

    def __init__(self, nodes: Iterable[int] = (), vnodes: int = 256) -> None:
        if vnodes < 1:
            raise ValueError("vnodes must be >= 1")
        self.vnodes = vnodes
        self._nodes: set[int] = set(nodes)
        self._rebuild()

    @property
    def nodes(self) -> list[int]:
        """The nodes on the ring, sorted."""
        return sorted(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def add(self, node: int) -> None:
        """Put a node on the ring (it takes about 1/len of the keys)."""
        if node not in self._nodes:
            self._nodes.add(node)
            self._rebuild()

    def remove(self, node: int) -> None:
        """Take a node off the ring (its keys go to the next points round)."""
        if node in self._nodes:
            self._nodes.discard(node)
            self._rebuild()

    def _rebuild(self) -> None:
        pairs = sorted(
            (_point(node, v), node) for node in self._nodes for v in range(self.vnodes)
        )
        self._points = [p for p, _ in pairs]
        self._owners = [n for _, n in pairs]
        if pairs:
            # a key in the wrapped tail belongs to the first point
            self._owners.append(self._owners[0])
        self._points_np = np.array(self._points, dtype=np.uint64)
        # _lo[b]: the index of the first point whose top bits are >= b, so a key in
        # slice b only needs the points in _lo[b] .. _lo[b + 1] (usually 0 or 1).
        if pairs:
            tops = (self._points_np >> np.uint64(_SHIFT)).astype(np.int64)
            lo = np.searchsorted(tops, np.arange((1 << _TABLE_BITS) + 1), "left")
        else:
            lo = np.zeros((1 << _TABLE_BITS) + 1, dtype=np.int64)
        self._lo = lo.tolist()

    def node_for(self, key: int) -> int:
        """The node that owns ``key``. O(1) on average."""
        h = mix64(key)
        b = h >> _SHIFT
        lo = self._lo
        i = lo[b]
        hi = lo[b + 1]
        if hi > i:
            i = bisect_left(self._points, h, i, hi)
        return self._owners[i]

    def nodes_for(self, keys: np.ndarray) -> np.ndarray:
        """``node_for`` of every key of an integer array, as an ``int64`` array."""
        if not self._points:
            raise LookupError("the ring has no nodes")
        h = mix64_array(keys)
        idx = np.searchsorted(self._points_np, h, "left")
        owners = np.asarray(self._owners, dtype=np.int64)
        return owners[idx]


class KeyTable(ABC):
    """Mixin: the node of each key, remembered in a table of 2 bytes a key.

    A subclass says how to route one key (``_route``) and calls ``_tabulate`` with
    its key space; ``_tabled(key)`` then reads the table, routing (and remembering)
    a key the first time it is asked. A warm key costs one array read whatever the
    number of nodes. The table starts all ``UNKNOWN`` (one allocation, ~9 ms for 10M
    keys), because computing it in full up front (~0.15 s for 10M keys, ~0.5 s on a
    ring) is more than a short run spends routing. Without a key count, past
    ``TABLE_MAX_KEYS`` or with 65,535 nodes or more, every key is routed each time.
    """

    __slots__ = ()
    _n: int
    _table: array | None

    def _tabulate(self, key_count: int | None, nodes: int) -> None:
        """An empty table for keys ``0 .. key_count - 1`` (or none at all)."""
        if key_count is not None and key_count <= TABLE_MAX_KEYS and nodes < UNKNOWN:
            self._table = _UNKNOWN_ENTRY * key_count  # filled by doubling copies
            self._n = key_count
        else:
            self._table = None
            self._n = 0

    @abstractmethod
    def _route(self, key: int) -> int:
        """The node of ``key``, computed (the table remembers it)."""

    def _tabled(self, key: int, region: int = 0) -> int:
        """The node of ``key``: from the table, or routed and remembered."""
        if key < self._n:
            node = self._table[key]  # type: ignore[index]
            if node != UNKNOWN:
                return node
            node = self._table[key] = self._route(key)  # type: ignore[index]
            return node
        return self._route(key)
