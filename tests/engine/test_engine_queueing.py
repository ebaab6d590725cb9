"""The engine against queueing theory (tolerances from shared/performance.md).

Fixed seeds: each check is deterministic; the tolerances are what a correct engine
meets at these request counts (statistical error well inside them).
"""

from __future__ import annotations

import pytest
from helpers_engine import balanced_doc, document, rel, service_doc
from queueing_theory import (
    mmc_mean_response,
    mmc_response_quantile,
    mmck_blocking,
    usl_capacity,
)

import simengine


def _svc(report: dict) -> dict:
    return report["components"]["svc"]


def test_mm1_matches_theory_mean_p95_and_utilization() -> None:
    lam, mu = 50.0, 100.0  # 50% load, work mean 10 ms
    report = simengine.run_replication(
        service_doc(rps=lam, cores=1, requests=300_000), seed=7
    )
    lat = report["latency_ms"]
    assert rel(lat["mean"] / 1000, mmc_mean_response(lam, mu, 1)) < 0.02
    assert rel(lat["p95"] / 1000, mmc_response_quantile(0.95, lam, mu, 1)) < 0.02
    assert abs(_svc(report)["utilization"] - 0.5) < 0.01


def test_mm4_at_half_load_matches_erlang_c() -> None:
    lam, mu, c = 200.0, 100.0, 4  # 50% load
    report = simengine.run_replication(
        service_doc(rps=lam, cores=c, requests=200_000), seed=3
    )
    lat = report["latency_ms"]
    assert rel(lat["mean"] / 1000, mmc_mean_response(lam, mu, c)) < 0.015
    assert rel(lat["p95"] / 1000, mmc_response_quantile(0.95, lam, mu, c)) < 0.02
    assert abs(_svc(report)["utilization"] - 0.5) < 0.01


@pytest.mark.slow
def test_mm4_at_80_percent_load_matches_erlang_c() -> None:
    lam, mu, c = 320.0, 100.0, 4
    report = simengine.run_replication(
        service_doc(rps=lam, cores=c, requests=1_000_000), seed=11
    )
    lat = report["latency_ms"]
    assert rel(lat["mean"] / 1000, mmc_mean_response(lam, mu, c)) < 0.025
    assert rel(lat["p95"] / 1000, mmc_response_quantile(0.95, lam, mu, c)) < 0.03
    assert abs(_svc(report)["utilization"] - 0.8) < 0.01


def test_queue_limit_rejects_the_mmck_blocking_share() -> None:
    lam, mu, c, queue_limit = 380.0, 100.0, 4, 6  # K = 10 places
    report = simengine.run_replication(
        service_doc(rps=lam, cores=c, requests=200_000, queue_limit=queue_limit),
        seed=5,
    )
    req = report["requests"]
    measured = req["rejected"] / req["offered"]
    expected = mmck_blocking(lam, mu, c, c + queue_limit)
    assert abs(measured - expected) < 0.01 + 0.05 * expected
    assert _svc(report)["rejected"] == req["rejected"]


def test_usl_contention_makes_doubling_cores_less_than_double() -> None:
    # Saturated servers (queue bounded by queue_limit): throughput = capacity.
    def capacity(cores: int) -> float:
        doc = service_doc(
            rps=4000.0,
            cores=cores,
            requests=120_000,
            queue_limit=50,
            scaling={"contention": 0.05, "coherency": 0.001},
        )
        return simengine.run_replication(doc, seed=2)["throughput_rps"]

    four, eight = capacity(4), capacity(8)
    assert eight < 2 * four
    expected = usl_capacity(8, 0.05, 0.001) / usl_capacity(4, 0.05, 0.001)
    assert rel(eight / four, expected) < 0.03
    # and the absolute capacity: 100 rps per core-equivalent
    assert rel(four, 100 * usl_capacity(4, 0.05, 0.001)) < 0.03


def test_random_balancing_over_n_servers_equals_n_mm1_queues() -> None:
    n, lam, mu = 4, 280.0, 100.0  # each server an M/M/1 at 70%
    report = simengine.run_replication(
        balanced_doc(rps=lam, requests=300_000, algorithm="random", instances=n),
        seed=4,
    )
    mean_s = report["latency_ms"]["mean"] / 1000
    assert rel(mean_s, mmc_mean_response(lam / n, mu, 1)) < 0.03
    p95_s = report["latency_ms"]["p95"] / 1000
    assert rel(p95_s, mmc_response_quantile(0.95, lam / n, mu, 1)) < 0.03
    shares = report["components"]["lb"]["share"]
    assert all(abs(s - 1 / n) < 0.01 for s in shares.values())


def test_least_connections_lies_between_pooled_mmn_and_separate_mm1s() -> None:
    n, lam, mu = 4, 320.0, 100.0  # 80% load
    report = simengine.run_replication(
        balanced_doc(
            rps=lam, requests=200_000, algorithm="least_connections", instances=n
        ),
        seed=8,
    )
    mean_s = report["latency_ms"]["mean"] / 1000
    pooled = mmc_mean_response(lam, mu, n)
    separate = mmc_mean_response(lam / n, mu, 1)
    assert pooled * 0.98 < mean_s < separate
    # much closer to the pooled queue than to separate ones
    assert mean_s < pooled + 0.3 * (separate - pooled)


@pytest.mark.parametrize(
    "algorithm", ["least_connections", "least_response_time", "power_of_two"]
)
def test_load_aware_balancing_beats_round_robin_on_mixed_speed_servers(
    algorithm: str,
) -> None:
    def mean_ms(algorithm: str) -> float:
        doc = balanced_doc(
            rps=240.0,
            requests=120_000,
            algorithm=algorithm,
            instances=2,
            extra_services={
                "slow": {"instances": 2, "cores": 1, "speed": 0.5, "work_ms": 10}
            },
        )
        return simengine.run_replication(doc, seed=9)["latency_ms"]["mean"]

    assert mean_ms(algorithm) < 0.7 * mean_ms("round_robin")


def test_littles_law_holds_on_every_station() -> None:
    doc = document(
        duration_s=400,
        warmup_s=10,
        seed=3,
        workload={"target": "lb", "rps": 600, "read_ratio": 0.8},
        components={
            "lb": {"type": "load_balancer", "targets": ["web"]},
            "web": {
                "type": "service",
                "instances": 3,
                "cores": 2,
                "work_ms": {"read": 5, "write": {"mean": 9}},
                "calls": ["api", "db"],
            },
            "api": {"type": "service", "instances": 2, "cores": 4, "work_ms": 4},
            "db": {
                "type": "database",
                "primary": {"cores": 4, "read_ms": 3, "write_ms": {"mean": 10}},
            },
        },
    )
    report = simengine.run_replication(doc, seed=1)
    for cid in ("web", "api", "db"):
        comp = report["components"][cid]
        little = comp["throughput_rps"] * comp["latency_ms"]["mean"] / 1000
        assert rel(comp["concurrency_mean"], little) < 0.02, cid
    # and end to end, over the whole system
    req = report["requests"]
    assert req["completed"] > 0.99 * req["offered"]


def test_littles_law_holds_on_a_cached_replicated_sharded_database() -> None:
    """L = lambda W for the whole data tier behind a cache: shards, their replicas
    (reads), their primaries (writes), across the warm-up boundary."""
    doc = document(
        duration_s=300,
        warmup_s=10,
        seed=5,
        workload={
            "target": "web",
            "rps": 800,
            "read_ratio": 0.8,
            "keys": {"count": 50_000, "zipf_s": 0.9},
        },
        components={
            "web": {
                "type": "service",
                "instances": 2,
                "cores": 4,
                "work_ms": 2,
                "calls": ["cache"],
            },
            "cache": {
                "type": "cache",
                "capacity_keys": 5_000,
                "ttl_s": 20,
                "backing": "db",
            },
            "db": {
                "type": "database",
                "primary": {"cores": 4, "read_ms": 4, "write_ms": {"mean": 9}},
                "replicas": {"count": 2, "mode": "async", "reads": "replicas"},
                "shards": {"count": 4, "strategy": "hash"},
            },
        },
    )
    report = simengine.run_replication(doc, seed=2)
    for cid in ("web", "db"):
        comp = report["components"][cid]
        little = comp["throughput_rps"] * comp["latency_ms"]["mean"] / 1000
        assert rel(comp["concurrency_mean"], little) < 0.02, cid
    assert 0.2 < report["components"]["cache"]["hit_ratio"] < 0.95
