"""Replication state against theory: stale reads, write waits, failover, conflicts.

What is tested and why it is the theory (see ``simengine/datatier/replication.py``):

- Stale reads. Writes to a key form a Poisson stream of rate ``w``; one async replica
  receives each write after an exponential lag of mean ``L``; reads come at
  independent Poisson times (so they see time averages). A read is stale iff the
  newest write, made ``A ~ Exp(w)`` ago, has not arrived: ``P(lag > A) = wL/(1+wL)``.
  Tolerance 0.01 absolute over 40k reads.
- Write waits: async 0; semi_sync the fastest replica (for 3 exponential lags of mean
  L, mean L/3); sync the slowest (mean L(1 + 1/2 + 1/3)). Exact per write, and the
  means within 3% over 20k writes. A sync replica is never stale.
- Failover: exactly the committed writes that had not reached the promoted replica
  at the fault are lost (checked against a brute-force count); on average ``wL`` of
  them (Little's law on writes in flight), within 5% over 2,000 fault times;
  sync loses none.
- Multi-primary: a write on one of two primaries conflicts when the other primary
  wrote the key within ``sync_ms`` before: ``1 - exp(-(w/2) S)``, within 0.01.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from simengine.datatier import (
    MultiPrimary,
    ReadYourWrites,
    Replication,
    make_cache,
    mode_wait,
)


def _stale_share(
    w: float, lag_mean: float, mode: str = "async", reads: int = 40_000, seed: int = 1
) -> float:
    rng = np.random.default_rng(seed)
    read_rate = w  # any rate: Poisson reads see time averages
    horizon = reads / read_rate
    n_writes = int(w * horizon * 1.2) + 100
    write_t = np.cumsum(rng.exponential(1 / w, n_writes))
    lags = rng.exponential(lag_mean, n_writes)
    read_t = np.cumsum(rng.exponential(1 / read_rate, reads))
    events = sorted(
        [(t, 0, i) for i, t in enumerate(write_t.tolist()) if t < horizon]
        + [(t, 1, i) for i, t in enumerate(read_t.tolist())]
    )
    rep = Replication(1, mode)
    lag_list = lags.tolist()
    stale = total = 0
    for t, kind, i in events:
        if kind == 0:
            rep.write(7, t, (lag_list[i],))
        else:
            total += 1
            _, is_stale = rep.read(0, 7, t)
            stale += is_stale
    assert rep.stale_reads == stale
    return stale / total


@pytest.mark.parametrize("wl", [0.25, 1.0, 4.0])
def test_async_stale_read_share_matches_wl_over_one_plus_wl(wl: float):
    w, lag_mean = 10.0, wl / 10.0
    measured = _stale_share(w, lag_mean)
    assert abs(measured - wl / (1 + wl)) < 0.01, measured


def test_stale_reads_grow_with_lag_and_with_write_rate():
    base = _stale_share(5.0, 0.04, reads=10_000)
    assert _stale_share(5.0, 0.16, reads=10_000) > base + 0.1
    assert _stale_share(20.0, 0.04, reads=10_000) > base + 0.1


def test_sync_replicas_are_never_stale():
    assert _stale_share(10.0, 0.1, mode="sync", reads=10_000) == 0.0


def test_a_write_waits_for_nothing_the_fastest_or_the_slowest_replica():
    lags = (0.030, 0.010, 0.050)
    assert mode_wait("async", lags) == 0.0
    assert mode_wait("semi_sync", lags) == 0.010
    assert mode_wait("sync", lags) == 0.050
    for mode, expected in (("async", 0.0), ("semi_sync", 0.010), ("sync", 0.050)):
        rep = Replication(3, mode)
        version, wait = rep.write(1, 100.0, lags)
        assert (version, wait) == (1, expected)
        # the write counts as committed when it is acknowledged
        assert rep.committed_version(1, 100.0 + expected) == 1
        if expected:
            assert rep.committed_version(1, 100.0 + expected / 2) == 0


@pytest.mark.parametrize(
    ("mode", "factor"), [("semi_sync", 1 / 3), ("sync", 1 + 1 / 2 + 1 / 3)]
)
def test_mean_write_wait_is_the_expected_order_statistic(mode: str, factor: float):
    lag_mean = 0.040
    rng = np.random.default_rng(4)
    lags = rng.exponential(lag_mean, (20_000, 3)).tolist()
    rep = Replication(3, mode)
    waits = [rep.write(k % 500, k * 0.01, row)[1] for k, row in enumerate(lags)]
    assert abs(np.mean(waits) / (lag_mean * factor) - 1) < 0.03


def test_a_replica_shows_the_newest_version_that_reached_it():
    rep = Replication(2, "async")
    rep.write(1, 0.0, (0.5, 0.1))  # v1
    rep.write(1, 0.2, (0.1, 0.9))  # v2
    assert rep.version_at(0, 1, 0.25) == 0
    assert rep.version_at(0, 1, 0.31) == 2  # v2 overtook v1 on replica 0
    assert rep.version_at(0, 1, 0.6) == 2  # and v1 arriving later changes nothing
    assert rep.version_at(1, 1, 0.15) == 1
    assert rep.is_stale(1, 1, 0.5) and not rep.is_stale(1, 1, 1.2)
    assert rep.read(None, 1, 0.21) == (2, False)  # the primary is never stale


def _writes(w: float, lag_mean: float, n: int, seed: int, replicas: int = 1):
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.exponential(1 / w, n))
    lags = rng.exponential(lag_mean, (n, replicas))
    keys = rng.integers(0, 50, n)
    return t, lags, keys


@pytest.mark.parametrize("key_count", [None, 50])  # dict or flat array of versions
def test_async_failover_loses_exactly_the_writes_inside_the_lag_window(key_count):
    t, lags, keys = _writes(200.0, 0.05, 5_000, seed=5)
    fault = float(t[3_000]) + 0.001
    rep = Replication(1, "async", key_count=key_count)
    for ti, lag, key in zip(t.tolist(), lags.tolist(), keys.tolist(), strict=True):
        if ti > fault:
            break
        rep.write(key, ti, lag)
    done = t <= fault
    in_window = done & (t + lags[:, 0] > fault)
    newest_before: dict[int, int] = {}
    result = rep.fail_primary(fault)
    assert result.promoted == 0
    assert result.lost_writes == int(in_window.sum()) > 0
    assert result.lost_keys == len(set(keys[in_window].tolist()))
    assert result.unacknowledged == 0
    # a key whose newest write was lost is back at what the replica had
    versions: dict[int, int] = {}
    for ti, lag, key in zip(
        t[done].tolist(), lags[done, 0].tolist(), keys[done], strict=True
    ):
        versions[key] = versions.get(key, 0) + 1
        if ti + lag <= fault:
            newest_before[key] = max(newest_before.get(key, 0), versions[key])
    for key in set(keys[in_window].tolist()):
        assert rep.committed_version(key, fault) == newest_before.get(key, 0)


def test_async_failover_loses_about_w_times_l_writes():
    w, lag_mean = 200.0, 0.05
    t, lags, keys = _writes(w, lag_mean, 40_000, seed=6)
    rep = Replication(1, "async")
    probes = np.linspace(t[1_000], t[-1_000], 2_000).tolist()
    lost = []
    j = 0
    tl, ll, kl = t.tolist(), lags.tolist(), keys.tolist()
    for probe in probes:
        while tl[j] <= probe:
            rep.write(kl[j], tl[j], ll[j])
            j += 1
        lost.append(rep.lost_if_promoted(0, probe)[0])
    assert abs(np.mean(lost) / (w * lag_mean) - 1) < 0.05


def test_failover_promotes_the_most_up_to_date_replica():
    rep = Replication(2, "async")
    rep.write(1, 0.0, (1.0, 0.1))
    rep.write(2, 0.0, (1.0, 0.1))
    rep.write(3, 0.0, (0.1, 1.0))
    result = rep.fail_primary(0.5)
    assert (result.promoted, result.lost_writes) == (1, 1)
    assert rep.down == {1} and rep.lost_writes == 1


@pytest.mark.parametrize("mode", ["sync", "semi_sync"])
def test_sync_failover_loses_no_acknowledged_write(mode: str):
    t, lags, keys = _writes(200.0, 0.05, 3_000, seed=7)
    fault = float(t[2_000]) + 0.001
    rep = Replication(1, mode)
    in_flight = 0
    for ti, lag, key in zip(t.tolist(), lags.tolist(), keys.tolist(), strict=True):
        if ti > fault:
            break
        rep.write(key, ti, lag)
        in_flight += ti + lag[0] > fault
    result = rep.fail_primary(fault)
    assert result.lost_writes == 0
    # the writes still waiting for their ack fail instead; nothing acknowledged is lost
    assert result.unacknowledged == in_flight > 0


def test_a_dead_replica_is_left_out_of_waits_and_comes_back_caught_up():
    rep = Replication(2, "sync")
    rep.replica_down(1)
    _, wait = rep.write(1, 0.0, (0.01, 5.0))
    assert wait == 0.01
    rep.replica_up(1, now=0.02)
    assert rep.version_at(1, 1, 0.02) == 1


def test_memory_follows_recent_writes_not_the_number_of_requests():
    rng = np.random.default_rng(8)
    rep = Replication(2, "async")
    now = 0.0
    for i in range(50_000):
        now += 0.001
        rep.write(int(rng.integers(0, 20_000)), now, (0.01, 0.02))
        if i % 1_000 == 0:
            rep.prune(now)
    rep.prune(now)
    # keys written in the last max lag (20 ms = 20 writes) at most
    assert rep.pending_keys() <= 21
    rep.prune(now + 1.0)
    assert rep.pending_keys() == 0


def test_multi_primary_counts_conflicts_within_sync_ms():
    mp = MultiPrimary(2, sync_ms=30)
    assert mp.write(1, 0, 0.000) is False
    assert mp.write(1, 0, 0.010) is False  # same primary: no conflict
    assert mp.write(1, 1, 0.020) is True  # the other primary wrote 10 ms ago
    assert mp.write(1, 0, 0.100) is False  # 80 ms later: replicated by then
    assert mp.conflicts == 1
    mp.prune(1.0)
    assert not mp._last


def test_multi_primary_conflict_rate_matches_poisson_theory():
    w, sync_ms = 20.0, 30.0
    rng = np.random.default_rng(9)
    t = np.cumsum(rng.exponential(1 / w, 100_000)).tolist()
    on = rng.integers(0, 2, 100_000).tolist()
    mp = MultiPrimary(2, sync_ms)
    for ti, p in zip(t, on, strict=True):
        mp.write(3, p, ti)
    theory = 1 - math.exp(-(w / 2) * sync_ms / 1000)
    assert abs(mp.conflicts / len(t) - theory) < 0.01


def test_read_your_writes_sends_a_writer_to_the_primary_until_its_write_is_everywhere():
    ryw = ReadYourWrites()
    assert not ryw.needs_primary(5, 0.0)
    ryw.wrote(5, until=1.0)
    assert ryw.needs_primary(5, 0.5)
    assert not ryw.needs_primary(5, 1.0)


def test_a_cache_filled_from_a_lagging_replica_serves_stale_hits_until_its_ttl():
    # cache-aside, invalidation on write, reads from an async replica 100 ms behind:
    # a miss just after a write fills the cache with the old version, and every hit
    # on it is stale until the TTL (not the replica catching up) drops it
    rep = Replication(1, "async")
    cache = make_cache("lru", 10, ttl_s=1.0)
    rep.write(3, 0.0, (0.1,))  # v1 committed at 0, on the replica at 0.1
    cache.invalidate(3)
    stale_hits = 0
    for now in (0.05, 0.2, 0.5, 0.9, 1.06):
        v = cache.get(3, now)
        if v is None:
            v, _ = rep.read(0, 3, now)
            cache.put(3, v, now)
        elif v < rep.committed_version(3, now):
            stale_hits += 1
    assert rep.stale_reads == 1  # the fill at 0.05
    assert stale_hits == 3  # 0.2, 0.5, 0.9: the replica had caught up, the cache not
    assert cache.get(3, 1.1) == 1  # refilled at 1.06 (TTL) with the newest version
