"""Miss coalescing: a popular key's expiry makes one backing read, or a stampede.

Theory: requests for a key arrive as a Poisson stream of rate ``lam``; the key
expires ``ttl`` after it was filled; a backing read takes ``R``. Without coalescing,
the first miss and every request arriving during its read each read the backing
store: ``1 + lam R`` reads per expiry on average. With coalescing: exactly 1, the
others wait for it (``lam R`` coalesced per expiry). Tolerance 3% over about 2,000
expiries.
"""

from __future__ import annotations

import heapq

import numpy as np
import pytest

from simengine.datatier import MissCoalescer, make_cache


def _run(enabled: bool, lam: float, read_s: float, ttl_s: float, seed: int = 1):
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1 / lam, int(lam * 500))).tolist()
    cache = make_cache("lru", 10, ttl_s)
    co = MissCoalescer(enabled)
    fills: list[float] = []
    expiries = answered = 0
    for t in arrivals:
        while fills and fills[0] <= t:
            done = heapq.heappop(fills)
            cache.put(0, 1, done)
            answered += 1 + len(co.filled(0))
        if cache.get(0, t) is None:
            if not fills:
                expiries += 1  # no read in flight: this miss starts a new cycle
            if co.miss(0, t):
                heapq.heappush(fills, t + read_s)
    return co, expiries, answered


@pytest.mark.parametrize("lam_r", [1.0, 4.0])
def test_without_coalescing_an_expiry_sends_one_plus_lambda_r_reads(lam_r: float):
    lam, ttl_s = 200.0, 0.2
    read_s = lam_r / lam
    co, expiries, _ = _run(False, lam, read_s, ttl_s)
    assert expiries > 1_500
    assert abs(co.backing_reads / expiries / (1 + lam_r) - 1) < 0.03


def test_with_coalescing_an_expiry_sends_one_read_and_the_others_wait():
    lam, ttl_s, lam_r = 200.0, 0.2, 4.0
    co, expiries, answered = _run(True, lam, lam_r / lam, ttl_s)
    assert co.backing_reads == expiries
    assert abs(co.coalesced / expiries / lam_r - 1) < 0.03
    # every miss is answered once: the reader and its waiters, bar the read in flight
    in_flight = 1 + len(co.clear()) if co.in_flight(0) else 0
    assert answered + in_flight == co.backing_reads + co.coalesced
