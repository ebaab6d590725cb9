"""Read replicas in the engine (part 2): routing, lag, stale reads, write waits.

Tolerances:
- stale reads from async replicas: each key is written at Poisson rate w and each
  write reaches a replica after an exponential lag of mean L, so a read at a random
  time is stale with probability wL / (1 + wL) (docs/datatier.md); within 0.02.
- write latency: a write waits for nothing (async), the fastest of 3 replicas
  (semi_sync, mean L/3) or the slowest (sync, mean L (1 + 1/2 + 1/3)), on top of
  its work on the primary; means within 4%.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from helpers_engine import document

import simengine
from simengine import run_replication


def _doc(
    *,
    rps: float,
    read_ratio: float,
    keys: int,
    replicas: dict[str, Any],
    duration_s: float = 30,
    warmup_s: float = 3,
    clients: int = 10_000,
    faults: list[dict[str, Any]] | None = None,
    seed: int = 1,
    db: dict[str, Any] | None = None,
) -> simengine.Document:
    return document(
        duration_s=duration_s,
        warmup_s=warmup_s,
        seed=seed,
        workload={
            "target": "db",
            "rps": rps,
            "read_ratio": read_ratio,
            "keys": {"count": keys, "zipf_s": 0.0},
            "clients": clients,
        },
        components={
            "db": {
                "type": "database",
                "primary": {
                    "cores": 16,
                    "read_ms": 1.0,
                    "write_ms": 1.0,
                    "connections": 10_000,
                },
                "replicas": replicas,
                **(db or {}),
            }
        },
        faults=faults,
    )


@pytest.mark.parametrize(("lag_ms", "wl"), [(50.0, 0.2), (250.0, 1.0)])
def test_async_replica_reads_are_stale_with_probability_wl_over_one_plus_wl(
    lag_ms: float, wl: float
):
    keys, rps, read_ratio = 100, 4_000, 0.9
    w = rps * (1 - read_ratio) / keys  # 4 writes per key per second
    assert abs(w * lag_ms / 1000 - wl) < 1e-9
    doc = _doc(
        rps=rps,
        read_ratio=read_ratio,
        keys=keys,
        replicas={"count": 2, "lag_ms": {"dist": "exponential", "mean": lag_ms}},
    )
    db = run_replication(doc, seed=1)["components"]["db"]
    assert db["replica_reads"] > 50_000
    assert abs(db["stale_reads"] / db["replica_reads"] - wl / (1 + wl)) < 0.02
    assert abs(db["replication_lag_ms"]["mean"] / lag_ms - 1) < 0.03


@pytest.mark.parametrize(
    ("mode", "factor"), [("async", 0.0), ("semi_sync", 1 / 3), ("sync", 11 / 6)]
)
def test_a_write_waits_as_its_replication_mode_says(mode: str, factor: float):
    lag_ms = 20.0
    doc = _doc(
        rps=500,
        read_ratio=0.0,
        keys=10_000,
        replicas={
            "count": 3,
            "mode": mode,
            "lag_ms": {"dist": "exponential", "mean": lag_ms},
        },
    )
    report = run_replication(doc, seed=2)
    expected = 1.0 + lag_ms * factor  # write_ms 1 on the primary, then the wait
    assert abs(report["latency_ms"]["mean"] / expected - 1) < 0.04


def test_sync_replicas_never_serve_a_stale_read():
    doc = _doc(
        rps=2_000,
        read_ratio=0.8,
        keys=50,
        replicas={"count": 2, "mode": "sync", "lag_ms": 30},
    )
    db = run_replication(doc, seed=3)["components"]["db"]
    assert db["replica_reads"] > 10_000 and db["stale_reads"] == 0


def test_replicas_take_the_reads_off_the_primary_and_apply_its_writes():
    doc = _doc(
        rps=4_000,
        read_ratio=0.9,
        keys=1_000,
        replicas={"count": 2, "lag_ms": 10},
    )
    nodes = run_replication(doc, seed=4)["components"]["db"]["nodes"]
    # primary: 400 writes/s x 1 ms on 16 cores; each replica: 1,800 reads + 400
    # applied writes per second x 1 ms
    assert abs(nodes["primary"]["utilization"] - 0.4 / 16) < 0.005
    for name in ("replica-0", "replica-1"):
        assert abs(nodes[name]["utilization"] - 2.2 / 16) < 0.01


def test_a_replica_fault_moves_its_reads_to_the_others():
    doc = _doc(
        rps=2_000,
        read_ratio=1.0,
        keys=1_000,
        replicas={"count": 2, "lag_ms": 10},
        faults=[{"at_s": 3, "component": "db", "node": "replica-0"}],
    )
    report = run_replication(doc, seed=5)
    nodes = report["components"]["db"]["nodes"]
    # only the reads in service on replica-0 when it died fail
    assert report["requests"]["errors"] <= 16
    assert nodes["replica-0"]["utilization"] == 0.0
    assert abs(nodes["replica-1"]["utilization"] - 2.0 / 16) < 0.01


def test_read_your_writes_sends_a_writers_reads_to_the_primary():
    common = dict(rps=2_000, read_ratio=0.5, keys=20, clients=20)
    lag = {"dist": "exponential", "mean": 100}
    plain = run_replication(
        _doc(**common, replicas={"count": 1, "lag_ms": lag}), seed=6
    )["components"]["db"]
    ryw = run_replication(
        _doc(
            **common, replicas={"count": 1, "lag_ms": lag, "reads": "read_your_writes"}
        ),
        seed=6,
    )["components"]["db"]
    assert ryw["replica_reads"] < plain["replica_reads"]
    assert ryw["stale_reads"] < plain["stale_reads"]
    assert (
        ryw["nodes"]["primary"]["utilization"]
        > plain["nodes"]["primary"]["utilization"]
    )


def _failover_doc(mode: str, lag_ms: float, seed: int = 1) -> simengine.Document:
    return _doc(
        rps=2_000,
        read_ratio=0.5,
        keys=100_000,
        replicas={
            "count": 2,
            "mode": mode,
            "lag_ms": {"dist": "exponential", "mean": lag_ms},
        },
        faults=[{"at_s": 15, "component": "db", "node": "primary"}],
        seed=seed,
        db={"failover": {"detect_s": 2, "promote_s": 3}},
    )


def test_async_failover_loses_about_the_writes_inside_the_lag_window():
    # 1,000 writes/s, lag 200 ms: about wL = 200 writes in flight to each replica;
    # the better of two replicas is promoted, so a little fewer are lost
    report = run_replication(_failover_doc("async", 200.0), seed=1)
    db = report["components"]["db"]
    assert 100 < db["lost_writes"] < 200 + 5 * 200**0.5
    assert db["promoted"] in ("replica-0", "replica-1")
    # writes fail for detect + promote = 5 s, then the promoted replica takes them
    errors = {w["t_s"]: w["errors"] for w in report["timeline"]}
    assert errors[14.0] == 0 and errors[16.0] > 500 and errors[22.0] == 0


def test_sync_failover_loses_no_acknowledged_write():
    db = run_replication(_failover_doc("sync", 200.0), seed=2)["components"]["db"]
    assert db["lost_writes"] == 0 and db["promoted"] is not None


def test_multi_primary_conflicts_match_poisson_theory():
    # writes only, each client to its home primary (client % 2); a write conflicts
    # when the other primary wrote its key within sync_ms before it: per key the
    # other primary writes at R / (2 K), so P = 1 - exp(-R / (2 K) * sync)
    rps, keys, sync_ms = 1_000.0, 100, 30.0
    doc = _doc(
        rps=rps,
        read_ratio=0.0,
        keys=keys,
        replicas={"count": 0},
        db={"primaries": 2, "sync_ms": sync_ms},
    )
    report = run_replication(doc, seed=8)
    db = report["components"]["db"]
    theory = 1 - math.exp(-rps / (2 * keys) * sync_ms / 1000)
    share = db["conflicts"] / report["requests"]["completed"]
    assert abs(share - theory) < 0.01, (share, theory)
    assert set(db["nodes"]) == {"primary", "primary-1"}


def test_each_window_carries_the_mean_and_largest_lag_of_its_writes():
    # constant lag: every window's mean and max are that lag exactly; exponential lag
    # of mean 50 ms: each window's mean within 20% (about 600 lags a window), the
    # run's mean within 4%, and the largest of a window above its mean
    const = _doc(
        rps=400,
        read_ratio=0.5,
        keys=1000,
        replicas={"count": 3, "lag_ms": {"dist": "constant", "mean": 25}},
    )
    for w in run_replication(const, seed=1)["timeline"]:
        lag = w["components"]["db"]["replication_lag_ms"]
        assert lag["mean"] == pytest.approx(25.0) and lag["max"] == pytest.approx(25.0)
    expo = _doc(
        rps=400,
        read_ratio=0.5,
        keys=1000,
        replicas={"count": 3, "lag_ms": {"dist": "exponential", "mean": 50}},
    )
    report = run_replication(expo, seed=2)
    means = []
    for w in report["timeline"]:
        lag = w["components"]["db"]["replication_lag_ms"]
        assert abs(lag["mean"] - 50.0) < 10.0
        assert lag["max"] > lag["mean"]
        means.append(lag["mean"])
    assert abs(sum(means) / len(means) - 50.0) < 2.0
    assert report["components"]["db"]["replication_lag_ms"]["mean"] == pytest.approx(
        50.0, rel=0.04
    )


def test_a_window_without_writes_has_no_lag_and_a_database_without_replicas_none():
    reads_only = _doc(rps=200, read_ratio=1.0, keys=100, replicas={"count": 2})
    for w in run_replication(reads_only, seed=1)["timeline"]:
        assert w["components"]["db"]["replication_lag_ms"] == {
            "mean": None,
            "max": None,
        }
    bare = _doc(rps=200, read_ratio=0.5, keys=100, replicas={"count": 0})
    for w in run_replication(bare, seed=1)["timeline"]:
        assert "replication_lag_ms" not in w["components"]["db"]
