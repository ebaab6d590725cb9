"""Analytic cache hit ratios under the independent reference model (IRM).

Requests are independent draws from a fixed popularity ``p`` (Zipf here). These are
the theories the cache tests check the key-level store against:

- ``che_lru``: Che's approximation for LRU (Che, Tung and Wang, 2002; Fricker, Robert
  and Roberts, 2012). Each key stays in the cache for the *characteristic time* ``T``
  after its last request, where ``T`` solves ``sum_i (1 - exp(-p_i T)) = C``; the hit
  ratio is ``sum_i p_i (1 - exp(-p_i T))``.
- ``che_fifo``: the same approximation for FIFO and random eviction (Gelenbe, 1973 for
  random; Fricker et al. for FIFO): ``sum_i p_i T/(1 + p_i T) = C`` and hit ratio
  ``sum_i p_i (p_i T)/(1 + p_i T)``; FIFO and random have the same IRM hit ratio.
- ``lfu_ideal``: a perfect LFU under IRM holds the ``C`` most popular keys, the best
  any policy can do without knowing the future: ``sum of the top C of p``.
- ``ttl_hit_ratio``: a key requested as a Poisson stream of rate ``lam`` in a cache
  whose entries expire ``T`` after they are written (a hit does not extend it): after a
  miss fills the key, the ``lam T`` requests expected in the next ``T`` are hits and the
  first one after is a miss (memoryless), so the hit ratio is ``lam T / (1 + lam T)``.
"""

from __future__ import annotations

import numpy as np


def zipf_probabilities(n: int, s: float) -> np.ndarray:
    """P(key k) proportional to 1/(k+1)^s for k = 0..n-1 (key 0 the most popular)."""
    w = np.arange(1, n + 1, dtype=np.float64) ** -float(s)
    return w / w.sum()


def _solve_t(p: np.ndarray, capacity: float, occupancy) -> float:
    """The T > 0 with occupancy(p, T) = capacity, by bisection on a log scale."""
    if capacity >= p.size:
        return np.inf
    lo, hi = 1e-12, 1.0
    while occupancy(p, hi) < capacity:
        hi *= 2.0
    for _ in range(200):
        mid = np.sqrt(lo * hi)
        if occupancy(p, mid) < capacity:
            lo = mid
        else:
            hi = mid
        if hi / lo < 1 + 1e-12:
            break
    return float(np.sqrt(lo * hi))


def che_lru(p: np.ndarray, capacity: int) -> float:
    """Che's approximation of the LRU hit ratio for popularity ``p`` (sums to 1)."""
    p = np.asarray(p, dtype=np.float64)
    t = che_characteristic_time(p, capacity)
    if np.isinf(t):
        return 1.0
    return float((p * -np.expm1(-p * t)).sum())


def che_characteristic_time(p: np.ndarray, capacity: int) -> float:
    """Che's characteristic time T of an LRU cache (in requests, for sum(p) = 1)."""
    p = np.asarray(p, dtype=np.float64)
    return _solve_t(p, capacity, lambda q, t: float(-np.expm1(-q * t).sum()))


def che_fifo(p: np.ndarray, capacity: int) -> float:
    """The FIFO (and random eviction) hit ratio by the same approximation."""
    p = np.asarray(p, dtype=np.float64)
    t = _solve_t(p, capacity, lambda q, t: float((q * t / (1.0 + q * t)).sum()))
    if np.isinf(t):
        return 1.0
    x = p * t
    return float((p * x / (1.0 + x)).sum())


def lfu_ideal(p: np.ndarray, capacity: int) -> float:
    """The hit ratio of a cache holding the ``capacity`` most popular keys."""
    p = np.sort(np.asarray(p, dtype=np.float64))[::-1]
    return float(p[:capacity].sum())


def ttl_hit_ratio(rate: float, ttl_s: float) -> float:
    """Hit ratio of one key requested at Poisson ``rate`` with a TTL from its write."""
    x = rate * ttl_s
    return x / (1.0 + x)
