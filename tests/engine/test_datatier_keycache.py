"""The key-level cache store against theory (IRM, Zipf keys) and against a reference.

Tolerances (fixed seeds):
- LRU vs Che's approximation: 2 percentage points (the issue's figure); measured
  after a warm-up of 50k requests, over 200k requests.
- FIFO and random vs their IRM approximation: 2 points; FIFO vs random: 1 point.
- TTL without evictions vs lambda*T/(1+lambda*T) per key: 0.015 absolute over about
  60k requests per key (binomial-ish noise is below 0.005).
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import pytest

from simengine.datatier import CacheNodes, make_cache
from simengine.datatier.che import (
    che_fifo,
    che_lru,
    lfu_ideal,
    ttl_hit_ratio,
    zipf_probabilities,
)

WARMUP = 50_000
MEASURED = 200_000


def _zipf_stream(n: int, s: float, size: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    return rng.choice(n, size=size, p=zipf_probabilities(n, s)).tolist()


def _cache_aside_hit_ratio(policy: str, capacity: int, keys: list[int]) -> float:
    cache = make_cache(policy, capacity, rng=np.random.default_rng(7))
    get, put = cache.get, cache.put
    for i, key in enumerate(keys):
        if i == WARMUP:
            cache.reset_counters()
        if get(key, 0.0) is None:
            put(key, 1, 0.0)
    assert len(cache) == capacity
    return cache.hit_ratio


@pytest.mark.parametrize(
    ("n", "s", "fraction"),
    [
        (10_000, 0.8, 0.01),
        (10_000, 0.8, 0.05),
        (10_000, 1.0, 0.20),
        (100_000, 0.9, 0.01),
    ],
)
def test_lru_hit_ratio_matches_che_under_zipf(n: int, s: float, fraction: float):
    capacity = int(n * fraction)
    keys = _zipf_stream(n, s, WARMUP + MEASURED, seed=11)
    measured = _cache_aside_hit_ratio("lru", capacity, keys)
    theory = che_lru(zipf_probabilities(n, s), capacity)
    assert abs(measured - theory) < 0.02, (measured, theory)


@pytest.mark.parametrize(("s", "fraction"), [(0.8, 0.05), (1.0, 0.01)])
def test_lfu_beats_lru_beats_fifo_and_random_under_zipf(s: float, fraction: float):
    n = 10_000
    capacity = int(n * fraction)
    keys = _zipf_stream(n, s, WARMUP + MEASURED, seed=12)
    p = zipf_probabilities(n, s)
    hit = {pol: _cache_aside_hit_ratio(pol, capacity, keys) for pol in _POLICIES}
    # LFU under IRM tends to the top-C keys (the best possible); in-cache LFU churns
    # its count-1 bucket, so it lies between LRU and the ideal
    assert hit["lru"] + 0.03 < hit["lfu"] <= lfu_ideal(p, capacity) + 0.005
    assert hit["fifo"] + 0.02 < hit["lru"]
    assert abs(hit["fifo"] - hit["random"]) < 0.01
    fifo_theory = che_fifo(p, capacity)
    assert abs(hit["fifo"] - fifo_theory) < 0.02
    assert abs(hit["random"] - fifo_theory) < 0.02


_POLICIES = ("lru", "lfu", "fifo", "random")


@pytest.mark.parametrize("policy", _POLICIES)
def test_ttl_cache_hit_ratio_per_key_matches_lambda_t_over_one_plus_lambda_t(
    policy: str,
):
    # three keys with Poisson requests at different rates, one TTL, no evictions
    ttl_s = 2.0
    rates = {0: 0.25, 1: 1.0, 2: 5.0}  # lambda*T = 0.5, 2, 10
    rng = np.random.default_rng(21)
    events: list[tuple[float, int]] = []
    for key, rate in rates.items():
        times = np.cumsum(rng.exponential(1.0 / rate, 60_000))
        events.extend((t, key) for t in times.tolist())
    events.sort()
    cache = make_cache(policy, 10, ttl_s, rng=np.random.default_rng(3))
    hits = dict.fromkeys(rates, 0)
    total = dict.fromkeys(rates, 0)
    for t, key in events:
        total[key] += 1
        if cache.get(key, t) is None:
            cache.put(key, 1, t)
        else:
            hits[key] += 1
    assert cache.evictions == 0
    for key, rate in rates.items():
        theory = ttl_hit_ratio(rate, ttl_s)
        assert abs(hits[key] / total[key] - theory) < 0.015, (key, theory)


@pytest.mark.parametrize("policy", _POLICIES)
def test_ttl_counts_from_the_write_and_a_hit_does_not_extend_it(policy: str):
    cache = make_cache(policy, 4, ttl_s=10.0, rng=np.random.default_rng(0))
    cache.put(5, 1, now=0.0)
    assert cache.get(5, now=9.99) == 1
    assert cache.get(5, now=10.0) is None  # 10 s after the write, hits or not
    assert (cache.hits, cache.misses, cache.expirations) == (1, 1, 1)
    cache.put(5, 2, now=10.0)  # a new write restarts the clock
    assert cache.get(5, now=19.0) == 2


@pytest.mark.parametrize("policy", _POLICIES)
def test_entries_carry_their_version_and_invalidate_and_clear_drop_them(policy: str):
    cache = make_cache(policy, 3, rng=np.random.default_rng(0))
    cache.put(1, 1, 0.0)
    assert cache.get(1, 0.0) == 1
    cache.put(1, 2, 0.0)  # write-through of a newer version
    assert cache.get(1, 0.0) == 2
    assert cache.invalidate(1) is True
    assert cache.invalidate(1) is False
    assert cache.get(1, 0.0) is None
    for k in (2, 3, 4):
        cache.put(k, 1, 0.0)
    assert cache.clear() == 3  # a node fault loses its keys
    assert len(cache) == 0
    assert cache.get(2, 0.0) is None
    assert cache.invalidations == 1


@pytest.mark.parametrize("policy", _POLICIES)
def test_a_full_cache_evicts_one_key_per_new_key(policy: str):
    cache = make_cache(policy, 100, rng=np.random.default_rng(0))
    for k in range(1_000):
        cache.put(k, 1, 0.0)
    assert len(cache) == 100
    assert cache.evictions == 900


def test_lru_fifo_and_lfu_pick_the_textbook_victim():
    lru = make_cache("lru", 2)
    lru.put(1, 1, 0.0)
    lru.put(2, 1, 0.0)
    lru.get(1, 0.0)
    lru.put(3, 1, 0.0)  # 2 is the least recently used
    assert (1 in lru, 2 in lru, 3 in lru) == (True, False, True)

    fifo = make_cache("fifo", 2)
    fifo.put(1, 1, 0.0)
    fifo.put(2, 1, 0.0)
    fifo.get(1, 0.0)
    fifo.put(1, 2, 0.0)  # neither a hit nor an update moves 1
    fifo.put(3, 1, 0.0)
    assert (1 in fifo, 2 in fifo, 3 in fifo) == (False, True, True)

    lfu = make_cache("lfu", 2)
    lfu.put(1, 1, 0.0)
    lfu.put(2, 1, 0.0)
    lfu.get(1, 0.0)
    lfu.get(1, 0.0)
    lfu.get(2, 0.0)
    lfu.put(3, 1, 0.0)  # 2 was used twice, 1 three times
    assert (1 in lfu, 2 in lfu, 3 in lfu) == (True, False, True)


def test_random_eviction_is_uniform_over_the_keys_and_reproducible():
    victims = np.zeros(10, dtype=np.int64)
    for trial in range(4_000):
        cache = make_cache("random", 10, rng=np.random.default_rng(trial))
        for k in range(10):
            cache.put(k, 1, 0.0)
        cache.put(99, 1, 0.0)
        (gone,) = [k for k in range(10) if k not in cache]
        victims[gone] += 1
    # 400 expected per key; 5 standard deviations is about 95
    assert np.all(np.abs(victims - 400) < 95), victims

    def run(seed: int) -> list[int]:
        cache = make_cache("random", 50, rng=np.random.default_rng(seed))
        for k in range(500):
            cache.put(k, 1, 0.0)
        return sorted(k for k in range(500) if k in cache)

    assert run(5) == run(5)
    assert run(5) != run(6)


class _Reference:
    """A slow, obviously-correct cache: a list of entries scanned on every op."""

    def __init__(self, policy: str, capacity: int, ttl_s: float) -> None:
        self.policy, self.capacity, self.ttl = policy, capacity, ttl_s
        self.d: OrderedDict[int, list] = OrderedDict()  # key -> [version, exp, count]
        self.arrival = 0
        self.order: dict[int, int] = {}  # key -> arrival at its current count
        self.hits = self.misses = self.evictions = 0

    def get(self, key: int, now: float):
        e = self.d.get(key)
        if e is None or e[1] <= now:
            if e is not None:
                del self.d[key]
            self.misses += 1
            return None
        self.hits += 1
        if self.policy == "lru":
            self.d.move_to_end(key)
        e[2] += 1
        self.arrival += 1
        self.order[key] = self.arrival
        return e[0]

    def put(self, key: int, version: int, now: float) -> None:
        self.arrival += 1
        if key in self.d:
            e = self.d[key]
            e[0], e[1] = version, now + self.ttl
            if self.policy == "lru":
                self.d.move_to_end(key)
            if self.policy == "lfu":
                e[2] += 1
                self.order[key] = self.arrival
            return
        if len(self.d) >= self.capacity:
            if self.policy == "lfu":
                victim = min(self.d, key=lambda k: (self.d[k][2], self.order[k]))
            else:
                victim = next(iter(self.d))
            del self.d[victim]
            self.evictions += 1
        self.d[key] = [version, now + self.ttl, 1]
        self.order[key] = self.arrival

    def invalidate(self, key: int) -> None:
        self.d.pop(key, None)


@pytest.mark.parametrize("policy", ["lru", "fifo", "lfu"])
def test_policy_matches_a_brute_force_reference_with_ttl_and_invalidations(
    policy: str,
):
    rng = np.random.default_rng(31)
    n_ops = 20_000
    keys = rng.zipf(1.3, n_ops) % 60
    kinds = rng.random(n_ops)
    times = np.cumsum(rng.exponential(0.01, n_ops))
    cache = make_cache(policy, 16, ttl_s=3.0)
    ref = _Reference(policy, 16, 3.0)
    version = 0
    for key, kind, now in zip(
        keys.tolist(), kinds.tolist(), times.tolist(), strict=True
    ):
        if kind < 0.05:
            cache.invalidate(key)
            ref.invalidate(key)
        elif kind < 0.15:
            version += 1
            cache.put(key, version, now)
            ref.put(key, version, now)
        else:
            got = cache.get(key, now)
            assert got == ref.get(key, now)
            if got is None:
                cache.put(key, version, now)
                ref.put(key, version, now)
    assert (cache.hits, cache.misses, cache.evictions) == (
        ref.hits,
        ref.misses,
        ref.evictions,
    )


@pytest.mark.parametrize("key_count", [None, 20_000])
def test_cache_nodes_spread_keys_and_a_dead_node_loses_only_its_keys(key_count):
    nodes = CacheNodes(4, "lru", 10_000, key_count=key_count)
    keys = range(20_000)
    for k in keys:
        nodes.cache_for(k).put(k, 1, 0.0)
    sizes = [len(c) for c in nodes.caches]
    assert sum(sizes) == 20_000
    assert all(abs(s / 20_000 - 0.25) < 0.05 for s in sizes), sizes
    owner = {k: nodes.node_of(k) for k in keys}
    lost = nodes.fail(2)
    assert lost == sizes[2] == nodes.lost_keys
    # the dead node's keys go cold to the other nodes; nobody else's key moves
    for k in keys:
        if owner[k] == 2:
            assert nodes.node_of(k) != 2
            assert nodes.cache_for(k).get(k, 0.0) is None
        else:
            assert nodes.node_of(k) == owner[k]
            assert nodes.cache_for(k).get(k, 0.0) == 1
    nodes.recover(2)
    assert all(nodes.node_of(k) == owner[k] for k in keys)
    assert len(nodes.caches[2]) == 0


def test_che_approximation_is_sane_at_the_edges():
    p = zipf_probabilities(1_000, 0.9)
    assert che_lru(p, 1_000) == 1.0
    assert math.isclose(lfu_ideal(p, 1_000), 1.0)
    assert 0.0 < che_fifo(p, 10) < che_lru(p, 10) < lfu_ideal(p, 10) < 1.0
