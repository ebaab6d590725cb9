"""The seams of a run: the snapshot contract, what the report counts, and the
per-component numbers the data tier reports (each a defect once)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from helpers_engine import document, example_document, rel

import simengine
from simengine.metrics import LatencyStats

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _example(name: str, **simulation: object) -> simengine.Document:
    return example_document(EXAMPLES / name, **simulation)


def test_snapshot_rates_are_per_second_of_their_own_window() -> None:
    # At snapshot_s: 5 the run page once drew ~1,150 errors/s for 200 arrivals/s.
    snaps: list[simengine.Snapshot] = []
    simengine.simulate(_example("case-study-step2.yaml"), on_snapshot=snaps.append)
    measured = [s for s in snaps if not s["warmup"]]
    assert {s["window_s"] for s in measured} == {5.0}
    for s in measured:
        failed = s["errors_rps"] + s["timeouts_rps"] + s["rejected_rps"]
        assert failed <= s["offered_rps"] * 1.5, s  # never more failures than arrivals
        assert math.isclose(s["timeouts_rps"] * s["window_s"], s["timeouts"])
        assert math.isclose(s["errors_rps"] * s["window_s"], s["errors"])
        assert 150 < s["offered_rps"] < 250
    assert sum(s["timeouts"] for s in measured) > 0  # the case is overloaded


def test_completed_never_exceeds_offered_across_the_warm_up() -> None:
    # Requests that arrived in the warm-up used to be counted when they ended after
    # it, so completed could exceed offered (case study step 4: 61,808 of 61,805).
    for seed in (1, 2):
        report = simengine.simulate(
            _example("case-study-step2.yaml", seed=seed, duration_s=60)
        )
        req = report["requests"]
        ended = req["completed"] + req["errors"] + req["timeouts"] + req["rejected"]
        assert req["in_flight"] >= 0
        assert ended + req["in_flight"] == req["offered"]
        assert req["completed"] <= req["offered"]


def _replicated(**db: object) -> simengine.Document:
    return document(
        duration_s=200,
        warmup_s=5,
        workload={"target": "db", "rps": 100, "read_ratio": 0.5},
        components={
            "db": {
                "type": "database",
                "primary": {"cores": 4, "read_ms": 4, "write_ms": 8},
                **db,
            }
        },
    )


def test_a_replicated_database_reports_the_queries_it_served() -> None:
    # The replicas applying writes were counted as served queries: with 100
    # queries/s and 2 replicas the throughput read ~200/s, the mean a third high.
    plain = simengine.simulate(_replicated())["components"]["db"]
    for extra in (
        {"replicas": {"count": 2, "mode": "async", "lag_ms": 20, "reads": "primary"}},
        {"primaries": 2, "sync_ms": 30},
    ):
        comp = simengine.simulate(_replicated(**extra))["components"]["db"]
        assert rel(comp["throughput_rps"], 100) < 0.05, extra
        # reads 4 ms and writes 8 ms, half each, on a lightly loaded node: ~6 ms
        assert rel(comp["latency_ms"]["mean"], plain["latency_ms"]["mean"]) < 0.05
        # Little's law for its queries
        little = comp["throughput_rps"] * comp["latency_ms"]["mean"] / 1000
        assert rel(comp["concurrency_mean"], little) < 0.02, extra


def test_a_sync_write_is_timed_until_the_replicas_acknowledge() -> None:
    lag = {"count": 2, "lag_ms": 50, "reads": "primary"}
    fast = simengine.simulate(_replicated(replicas={**lag, "mode": "async"}))
    slow = simengine.simulate(_replicated(replicas={**lag, "mode": "sync"}))
    # half the queries are writes that now wait ~50 ms more (constant lag)
    gap = slow["components"]["db"]["latency_ms"]["mean"]
    gap -= fast["components"]["db"]["latency_ms"]["mean"]
    assert 20 < gap < 30


def test_the_mean_stays_exact_when_a_window_spills_into_the_histogram() -> None:
    rng = np.random.default_rng(3)
    values = rng.exponential(0.01, 300_000)  # more than one spill's worth
    stats = LatencyStats()
    stats.values.extend(values.tolist())
    stats.maybe_spill()
    stats.values.extend([0.5, 0.0001])
    stats.close_window(True)
    everything = np.concatenate([values, [0.5, 0.0001]])
    summary = stats.summary_ms()
    assert rel(summary["mean"], float(everything.mean()) * 1000) < 1e-9
    assert summary["max"] == 500.0


def test_shard_0_of_a_one_shard_database_is_its_primary() -> None:
    doc = document(
        duration_s=20,
        warmup_s=0,
        workload={"target": "db", "rps": 50, "keys": {"count": 1000}},
        components={
            "db": {"type": "database", "shards": {"count": 1, "strategy": "hash"}}
        },
        faults=[{"at_s": 5, "component": "db", "node": "shard-0", "for_s": 5}],
    )
    req = simengine.simulate(doc)["requests"]
    # about 5 s of 50 requests/s fail while the primary is down
    assert 150 < req["errors"] < 350
