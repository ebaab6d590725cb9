"""Key popularity and cache hit ratios for the estimate: Che's approximation over a
binned Zipf popularity.

``simengine.datatier.che`` holds the same theories per key (exact, for the engine's
tests on small key spaces); here the key space is binned (the most popular keys
exact, the tail on a log scale) so that millions of keys cost a millisecond. The TTL
cap is the one formula both share (``ttl_hit_ratio``).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ..datatier.che import ttl_hit_ratio

_EXACT_KEYS = 2000
_TAIL_BINS = 800


_HEAD = 10_000


@lru_cache(maxsize=64)
def _harmonic_head(s: float) -> np.ndarray:
    """Cumulative sums of k^-s for k = 1 .. _HEAD (index m - 1 holds H(m))."""
    return np.cumsum(np.arange(1, _HEAD + 1, dtype=float) ** -s)


def _harmonic_array(m: np.ndarray, s: float) -> np.ndarray:
    """H(m, s) = sum_{k=1}^{m} k^-s for each m: exact up to _HEAD, then the
    midpoint integral (accurate to ~1e-9 relative there)."""
    m = np.asarray(m, dtype=np.int64)
    head = _harmonic_head(s)
    out = np.where(m > 0, head[np.clip(np.minimum(m, _HEAD) - 1, 0, None)], 0.0)
    tail = m > _HEAD
    if np.any(tail):
        a, b = _HEAD + 0.5, m[tail] + 0.5
        if abs(s - 1.0) < 1e-12:
            extra = np.log(b / a)
        else:
            extra = (b ** (1 - s) - a ** (1 - s)) / (1 - s)
        out = out.astype(float)
        out[tail] += extra
    return out


def _harmonic(m: int, s: float) -> float:
    return float(_harmonic_array(np.array([m]), s)[0])


@lru_cache(maxsize=64)
def popularity(count: int, zipf_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Key popularity as bins: (probability of one key in the bin, keys in the bin).

    The most popular keys are exact; the tail is binned on a log scale.
    """
    if zipf_s == 0:
        return np.array([1.0 / count]), np.array([float(count)])
    head = min(count, _EXACT_KEYS)
    ranks = np.arange(1, head + 1, dtype=float)
    weights = [ranks**-zipf_s]
    counts = [np.ones(head)]
    if count > head:
        edges = np.unique(
            np.geomspace(head + 1, count + 1, _TAIL_BINS + 1).astype(np.int64)
        )
        lo, hi = edges[:-1], edges[1:]  # keys lo .. hi-1
        mass = _harmonic_array(hi - 1, zipf_s) - _harmonic_array(lo - 1, zipf_s)
        n = (hi - lo).astype(float)
        weights.append(mass / n)
        counts.append(n)
    w = np.concatenate(weights)
    n = np.concatenate(counts)
    w /= float(np.sum(w * n))
    return w, n


@lru_cache(maxsize=1024)
def zipf_share_below(count: int, zipf_s: float, bound: int) -> float:
    """Share of requests for keys 0 .. bound-1 (keys ordered by popularity)."""
    bound = max(0, min(bound, count))
    if zipf_s == 0:
        return bound / count
    return _harmonic(bound, zipf_s) / _harmonic(count, zipf_s)


@lru_cache(maxsize=256)
def _characteristic_time(capacity: int, count: int, zipf_s: float, lru: bool) -> float:
    """Che's characteristic time t in units of one request in all: the root of
    sum_k n_k occ(p_k t) = capacity, by Newton's method on log t (the occupancy is
    increasing and concave in log t's range of interest), kept inside a bracket."""
    p, n = popularity(count, zipf_s)

    def f(u: float) -> tuple[float, float]:
        t = math.exp(u)
        x = p * t
        if lru:
            e = np.exp(-x)
            return float(np.sum(n * (1.0 - e))) - capacity, float(np.sum(n * x * e))
        return float(np.sum(n * x / (1.0 + x))) - capacity, float(
            np.sum(n * x / (1.0 + x) ** 2)
        )

    lo, hi = -60.0, 60.0
    u = math.log(capacity)  # t = capacity when every key is equally popular
    for _ in range(100):
        value, slope = f(u)
        if abs(value) < 1e-9 * capacity:
            break
        if value < 0:
            lo = u
        else:
            hi = u
        step = u - value / slope if slope > 0 else (lo + hi) / 2
        u = step if lo < step < hi else (lo + hi) / 2
    return math.exp(u)


def che_hit_ratio(
    *,
    capacity_keys: int,
    key_count: int,
    zipf_s: float,
    read_rps: float,
    write_rps: float = 0.0,
    eviction: str = "lru",
    ttl_s: float | None = None,
    invalidate_on_write: bool = False,
) -> float:
    """Hit ratio of reads at a cache (Che's approximation and its variants).

    LRU: a key is in the cache if it was requested within the characteristic time T,
    found from sum_k (1 - exp(-lambda_k T)) = capacity. FIFO and random use
    lambda_k T / (1 + lambda_k T); LFU holds the ``capacity`` most popular keys. A TTL
    (not extended by hits) caps a key's hit probability at lambda_k ttl / (1 +
    lambda_k ttl); invalidation on writes leaves lambda_k / (lambda_k + w_k) of it.
    """
    p, n = popularity(key_count, zipf_s)
    rate = read_rps + (0.0 if invalidate_on_write else write_rps)
    if rate <= 0:
        return 0.0
    lam = rate * p  # requests per second for one key in each bin
    if capacity_keys >= key_count:
        h = np.ones_like(p)
    elif eviction == "lfu":
        cum = np.cumsum(n)
        h = np.clip((capacity_keys - (cum - n)) / n, 0.0, 1.0)
    else:
        lru = eviction == "lru"
        x = p * _characteristic_time(capacity_keys, key_count, zipf_s, lru)
        h = -np.expm1(-x) if lru else x / (1.0 + x)
    if ttl_s is not None:
        h = np.minimum(h, ttl_hit_ratio(lam, ttl_s))
    if invalidate_on_write and write_rps > 0:
        r = read_rps * p
        h = h * r / (r + write_rps * p)
    return float(np.sum(p * n * h))


def clear_caches() -> None:
    """Forget the popularity tables (a benchmark's cold start)."""
    for cached in (_harmonic_head, popularity, zipf_share_below, _characteristic_time):
        cached.cache_clear()
