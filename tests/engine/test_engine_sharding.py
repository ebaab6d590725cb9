"""Sharded databases in the engine (part 2): routing, hotspots, rebalancing, scatter.

Tolerances:
- hash shards of uniform keys: each share within 0.02 of 1/n;
- range shards of Zipf(0.99) keys: the first shard's share within 0.01 of the sum of
  the Zipf weights of its range (the seed's hotspot);
- rebalancing 4 -> 5 shards: keys moved 4/5 (modulo) within 0.01, 1/5 (consistent
  hashing) within 0.03;
- a scatter read at low load waits for the slowest of 4 exponential reads:
  mean 1 + 1/2 + 1/3 + 1/4 = 2.083 ms, within 4%.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers_engine import document

import simengine
from simengine import run_replication
from simengine.datatier.che import zipf_probabilities


def _doc(
    *,
    shards: dict[str, Any],
    rps: float = 2_000,
    keys: dict[str, Any] | None = None,
    read_ratio: float = 0.9,
    duration_s: float = 20,
    read_ms: Any = 1.0,
    cores: int = 8,
    workload: dict[str, Any] | None = None,
    faults: list[dict[str, Any]] | None = None,
) -> simengine.Document:
    return document(
        duration_s=duration_s,
        warmup_s=2,
        workload={
            "target": "db",
            "rps": rps,
            "read_ratio": read_ratio,
            "keys": keys or {"count": 100_000, "zipf_s": 0.0},
            **(workload or {}),
        },
        components={
            "db": {
                "type": "database",
                "primary": {
                    "cores": cores,
                    "read_ms": read_ms,
                    "write_ms": 2.0,
                    "connections": 10_000,
                },
                "shards": shards,
            }
        },
        faults=faults,
    )


def test_hash_shards_share_uniform_keys_evenly():
    db = run_replication(_doc(shards={"count": 4, "strategy": "hash"}), seed=1)[
        "components"
    ]["db"]
    assert len(db["shards"]) == 4
    for shard in db["shards"]:
        assert abs(shard["share"] - 0.25) < 0.02
    utils = [s["utilization"] for s in db["shards"]]
    assert max(utils) - min(utils) < 0.01
    assert set(db["nodes"]) == {"shard-0", "shard-1", "shard-2", "shard-3"}


def test_range_shards_of_zipf_keys_make_the_first_shard_the_hotspot():
    n = 100_000
    doc = _doc(
        shards={"count": 4, "strategy": "range"},
        keys={"count": n, "zipf_s": 0.99},
        cores=32,
    )
    db = run_replication(doc, seed=2)["components"]["db"]
    theory = float(zipf_probabilities(n, 0.99)[: n // 4].sum())
    shares = [s["share"] for s in db["shards"]]
    assert abs(shares[0] - theory) < 0.01
    utils = [s["utilization"] for s in db["shards"]]
    assert utils[0] == max(utils) and utils[0] > 3 * utils[1]


@pytest.mark.parametrize(
    ("strategy", "moved", "tol"), [("hash", 0.8, 0.01), ("consistent_hash", 0.2, 0.03)]
)
def test_rebalancing_a_fifth_shard_reports_the_keys_moved(
    strategy: str, moved: float, tol: float
):
    doc = _doc(
        shards={"count": 4, "strategy": strategy, "rebalance": {"at_s": 10, "add": 1}}
    )
    db = run_replication(doc, seed=3)["components"]["db"]
    assert abs(db["keys_moved"] - moved) < tol
    assert len(db["shards"]) == 5
    assert db["shards"][4]["share"] > 0.05  # the new shard takes requests


def test_a_directory_charges_its_lookup_to_every_request():
    plain = run_replication(_doc(shards={"count": 4, "strategy": "hash"}), seed=4)
    lookup = run_replication(
        _doc(shards={"count": 4, "strategy": "directory", "directory_ms": 3}), seed=4
    )
    extra = lookup["latency_ms"]["mean"] - plain["latency_ms"]["mean"]
    assert abs(extra - 3.0) < 0.2


def test_a_scatter_read_waits_for_the_slowest_shard():
    doc = _doc(
        shards={"count": 4, "strategy": "hash"},
        rps=100,
        read_ratio=1.0,
        duration_s=400,
        read_ms={"dist": "exponential", "mean": 1.0},
        workload={"scatter_ratio": 1.0},
    )
    report = run_replication(doc, seed=5)
    expected = 1 + 1 / 2 + 1 / 3 + 1 / 4
    assert abs(report["latency_ms"]["mean"] / expected - 1) < 0.04


def test_geo_shards_follow_the_clients_regions():
    doc = _doc(
        shards={"count": 2, "strategy": "geo"},
        workload={"regions": {"us": 0.6, "eu": 0.4}, "clients": 1_000},
    )
    shares = [
        s["share"] for s in run_replication(doc, seed=6)["components"]["db"]["shards"]
    ]
    assert abs(shares[0] - 0.6) < 0.03 and abs(shares[1] - 0.4) < 0.03


def test_a_dead_shard_fails_only_its_share_of_requests():
    doc = _doc(
        shards={"count": 4, "strategy": "hash"},
        faults=[{"at_s": 0, "component": "db", "node": "shard-2"}],
    )
    report = run_replication(doc, seed=7)
    r = report["requests"]
    assert abs(r["errors"] / r["offered"] - 0.25) < 0.02


def test_the_same_seed_gives_an_identical_report_with_the_whole_data_tier():
    doc = document(
        duration_s=10,
        warmup_s=2,
        seed=3,
        workload={
            "target": "cache",
            "rps": 1_000,
            "read_ratio": 0.8,
            "keys": {"count": 10_000, "zipf_s": 0.9},
            "regions": {"us": 0.5, "eu": 0.5},
            "scatter_ratio": 0.05,
        },
        components={
            "cache": {"type": "cache", "backing": "db", "ttl_s": 2, "nodes": 2},
            "db": {
                "type": "database",
                "replicas": {"count": 2, "lag_ms": {"mean": 30}},
                "shards": {
                    "count": 3,
                    "strategy": "consistent_hash",
                    "rebalance": {"at_s": 6, "add": 1},
                },
                "failover": {"detect_s": 1, "promote_s": 1},
            },
        },
        faults=[
            {"at_s": 5, "component": "db", "node": "shard-1"},
            {"at_s": 4, "component": "cache", "node": 1, "for_s": 2},
        ],
    )
    a = json.dumps(run_replication(doc, seed=3), sort_keys=True)
    b = json.dumps(run_replication(doc, seed=3), sort_keys=True)
    assert a == b
    report = json.loads(a)
    db = report["components"]["db"]
    assert len(db["shards"]) == 4 and db["keys_moved"] > 0
    assert db["stale_reads"] > 0


def test_each_window_carries_every_shards_share_and_they_add_up():
    # Zipf keys over ranges: the first shard is hot in every window, as over the run;
    # a rebalance at 10 s adds a fifth line from its window on.
    n = 100_000
    doc = _doc(
        shards={"count": 4, "strategy": "range", "rebalance": {"at_s": 10, "add": 1}},
        keys={"count": n, "zipf_s": 0.99},
        cores=32,
    )
    report = run_replication(doc, seed=2)
    run_shares = [s["share"] for s in report["components"]["db"]["shards"]]
    counts = []
    for w in report["timeline"]:
        shards = w["components"]["db"]["shards"]
        counts.append(len(shards))
        assert abs(sum(s["share"] for s in shards) - 1.0) < 1e-9
        assert max(shards, key=lambda s: s["share"]) is shards[0]
        assert all(0.0 <= s["utilization"] <= 1.0 for s in shards)
    assert counts[0] == 4 and counts[-1] == 5
    # over the measured windows, weighted by the requests of each, the windows'
    # shares are the run's (calls and completions differ by the few in flight)
    weights = [
        w["components"]["db"]["throughput_rps"] * w["window_s"]
        for w in report["timeline"]
    ]
    for k, run_share in enumerate(run_shares):
        got = sum(
            (w["components"]["db"]["shards"][k]["share"] if k < n_k else 0.0) * wt
            for w, wt, n_k in zip(report["timeline"], weights, counts, strict=True)
        ) / sum(weights)
        assert abs(got - run_share) < 0.005, (k, got, run_share)


def test_an_unsharded_database_has_no_shards_in_its_windows():
    doc = _doc(shards={"count": 1})
    report = run_replication(doc, seed=1)
    assert all("shards" not in w["components"]["db"] for w in report["timeline"])
