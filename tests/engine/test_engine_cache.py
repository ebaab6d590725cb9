"""Caches in the engine (part 2, first step): the datatier blocks on the request path.

Tolerances:
- LRU hit ratio through the engine vs Che's approximation: 2 points (misses fill
  after the backing read, a tiny departure from the model's instant fills).
- ttl_only staleness: with uniform keys each key is written at rate w and cached for
  T after its fill, and Poisson reads hit at ages spread evenly over [0, T], so the
  stale share of hits is 1 - (1 - exp(-wT)) / (wT); within 0.02.
"""

from __future__ import annotations

import json
import math
from typing import Any

from helpers_engine import document

import simengine
from simengine import run_replication
from simengine.datatier.che import che_lru, zipf_probabilities


def _doc(
    *,
    rps: float,
    duration_s: float,
    warmup_s: float,
    keys: dict[str, Any],
    read_ratio: float = 1.0,
    cache: dict[str, Any] | None = None,
    faults: list[dict[str, Any]] | None = None,
    seed: int = 1,
    snapshot_s: float | None = None,
) -> simengine.Document:
    return document(
        duration_s=duration_s,
        warmup_s=warmup_s,
        seed=seed,
        snapshot_s=snapshot_s or duration_s / 20,
        workload={
            "target": "cache",
            "rps": rps,
            "read_ratio": read_ratio,
            "keys": keys,
        },
        components={
            "cache": {"type": "cache", "backing": "db", **(cache or {})},
            "db": {
                "type": "database",
                "primary": {
                    "cores": 32,
                    "read_ms": 0.5,
                    "write_ms": 0.5,
                    "connections": 10_000,
                },
            },
        },
        faults=faults,
    )


def test_lru_hit_ratio_through_the_engine_matches_che():
    n, s, capacity = 20_000, 0.9, 1_000
    doc = _doc(
        rps=5_000,
        duration_s=30,
        warmup_s=10,
        keys={"count": n, "zipf_s": s},
        cache={"capacity_keys": capacity},
    )
    cache = run_replication(doc, seed=1)["components"]["cache"]
    theory = che_lru(zipf_probabilities(n, s), capacity)
    assert abs(cache["hit_ratio"] - theory) < 0.02, (cache["hit_ratio"], theory)
    assert cache["evictions"] > 0 and cache["stale_reads"] == 0


def test_ttl_only_serves_stale_hits_as_theory_says_and_on_write_almost_never():
    keys, rps, read_ratio, ttl_s = 200, 2_000, 0.9, 1.0
    w = rps * (1 - read_ratio) / keys  # writes per key per second: wT = 1
    common = dict(
        rps=rps,
        duration_s=40,
        warmup_s=5,
        keys={"count": keys, "zipf_s": 0.0},
        read_ratio=read_ratio,
    )
    ttl_only = run_replication(
        _doc(**common, cache={"ttl_s": ttl_s, "invalidation": "ttl_only"}), seed=2
    )["components"]["cache"]
    x = w * ttl_s
    theory = 1 - (1 - math.exp(-x)) / x
    assert abs(ttl_only["stale_reads"] / ttl_only["hits"] - theory) < 0.02
    on_write = run_replication(
        _doc(**common, cache={"ttl_s": ttl_s, "invalidation": "on_write"}), seed=2
    )["components"]["cache"]
    # only a write racing a miss can leave an old version behind
    assert on_write["stale_reads"] / on_write["hits"] < 0.01


def test_write_through_keeps_the_cache_fresh_and_hot():
    doc = _doc(
        rps=2_000,
        duration_s=20,
        warmup_s=5,
        keys={"count": 200, "zipf_s": 0.0},
        read_ratio=0.5,
        cache={"strategy": "write_through"},
    )
    cache = run_replication(doc, seed=3)["components"]["cache"]
    assert cache["stale_reads"] == 0
    assert cache["hit_ratio"] > 0.99


def test_a_cache_node_fault_loses_its_keys_and_sends_its_misses_to_the_backing():
    doc = _doc(
        rps=2_000,
        duration_s=40,
        warmup_s=10,
        keys={"count": 5_000, "zipf_s": 0.8},
        cache={"nodes": 2, "capacity_keys": 2_000},
        faults=[{"at_s": 25, "component": "cache", "node": 0}],
        snapshot_s=1.0,
    )
    report = run_replication(doc, seed=4)
    cache = report["components"]["cache"]
    assert cache["lost_keys"] > 1_000
    db = {w["t_s"]: w["components"]["db"]["throughput_rps"] for w in report["timeline"]}
    before = sum(db[t] for t in (21.0, 22.0, 23.0, 24.0, 25.0)) / 5
    # the cold-cache spike: the backing store's load in the second after the fault
    assert db[26.0] > 2 * before, (before, db[26.0])


def test_write_behind_loses_the_unflushed_writes_of_a_dead_node():
    write_rps = 1_000.0
    doc = _doc(
        rps=write_rps,
        duration_s=30,
        warmup_s=5,
        keys={"count": 100_000, "zipf_s": 0.0},
        read_ratio=0.0,
        cache={"strategy": "write_behind", "flush_interval_s": 1.0},
        faults=[{"at_s": 20.5, "component": "cache", "node": 0}],
    )
    cache = run_replication(doc, seed=5)["components"]["cache"]
    expected = write_rps * 0.5  # the writes since the flush at 20 s
    assert abs(cache["lost_writes"] - expected) < 5 * math.sqrt(expected)


def test_coalescing_turns_an_expiry_stampede_into_one_backing_read():
    common = dict(
        rps=2_000, duration_s=20, warmup_s=2, keys={"count": 5, "zipf_s": 0.0}
    )
    slow = {"ttl_s": 0.5, "hit_ms": 0.1}
    off = run_replication(_doc(**common, cache=slow), seed=6)["components"]["cache"]
    on = run_replication(
        _doc(**common, cache={**slow, "coalesce_misses": True}), seed=6
    )["components"]["cache"]
    assert on["coalesced_misses"] > 0
    assert on["backing_reads"] < off["backing_reads"]


def test_the_same_seed_gives_an_identical_report_with_caches():
    doc = _doc(
        rps=1_000,
        duration_s=10,
        warmup_s=2,
        keys={"count": 5_000, "zipf_s": 1.0},
        read_ratio=0.8,
        cache={"nodes": 3, "eviction": "random", "ttl_s": 2.0},
        faults=[{"at_s": 5, "component": "cache", "node": 1, "for_s": 2}],
    )
    a = json.dumps(run_replication(doc, seed=7), sort_keys=True)
    b = json.dumps(run_replication(doc, seed=7), sort_keys=True)
    assert a == b
