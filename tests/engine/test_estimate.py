"""The instant estimate against queueing theory computed by hand.

Erlang C values below are worked out on paper from
C(c, a) = (a^c / c!) (c / (c - a)) / (sum_{k<c} a^k / k! + (a^c / c!) (c / (c - a))).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from helpers_engine import document
from hypothesis import HealthCheck, given, settings
from strategies import documents

from simengine.analytic import (
    LABEL,
    che_hit_ratio,
    erlang_c,
    estimate,
    format_estimate,
    mmc_wait,
    mmck,
)
from simengine.document import parse_document


def web_tier(
    rps: float,
    *,
    db_cores: int = 8,
    web: dict[str, Any] | None = None,
    db: dict[str, Any] | None = None,
    keys: dict[str, Any] | None = None,
    components: dict[str, Any] | None = None,
    objectives: dict[str, Any] | None = None,
):
    """A balancer -> 3 x 4-core web servers -> one database, at ``rps``."""
    workload: dict[str, Any] = {"target": "lb", "rps": rps, "read_ratio": 0.9}
    if keys is not None:
        workload["keys"] = keys
    return document(
        name="Web tier and database",
        # what a document without a simulation section runs
        duration_s=60,
        warmup_s=0,
        seed=0,
        workload=workload,
        network={"hop_ms": 0.5},
        components={
            "lb": {
                "type": "load_balancer",
                "layer": 7,
                "overhead_ms": 0.2,
                "targets": ["web"],
            },
            "web": {
                "type": "service",
                "instances": 3,
                "cores": 4,
                "work_ms": {"dist": "exponential", "mean": 8},
                "calls": ["db"],
                **(web or {}),
            },
            "db": {
                "type": "database",
                "primary": {
                    "cores": db_cores,
                    "read_ms": {"dist": "exponential", "mean": 4},
                    "write_ms": {"dist": "exponential", "mean": 12},
                },
                **(db or {}),
            },
            **(components or {}),
        },
        objectives=objectives,
    )


def single(rps: float, *, objectives: dict[str, Any] | None = None, **service: Any):
    """One service ``s`` called directly by the clients, at ``rps``."""
    return document(
        # what a document without a simulation section runs
        duration_s=60,
        warmup_s=0,
        seed=0,
        workload={"target": "s", "rps": rps},
        components={"s": {"type": "service", **service}},
        objectives=objectives,
    )


EXPONENTIAL_10 = {"dist": "exponential", "mean": 10}


def test_erlang_c_matches_hand_computed_values():
    assert erlang_c(1, 0.8) == pytest.approx(0.8)
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    # c = 4, a = 3.2: 21.845333 / (14.781333 + 21.845333)
    assert erlang_c(4, 3.2) == pytest.approx(0.596432, abs=1e-6)
    assert erlang_c(4, 0.0) == 0.0
    assert erlang_c(4, 4.0) == 1.0


def test_mmc_wait_is_infinite_when_saturated():
    assert mmc_wait(2, 0.3, 10.0) == math.inf  # a = 3 > c = 2
    assert mmc_wait(1, 0.08, 10.0) == pytest.approx(40.0)  # rho / (mu - lambda)


def test_single_server_estimate_is_mm1():
    e = estimate(single(80, cores=1, work_ms=EXPONENTIAL_10))
    assert e["components"]["s"]["utilization"] == pytest.approx(0.8)
    assert e["latency_ms"]["mean"] == pytest.approx(50.0)  # 1 / (mu - lambda)
    assert e["label"] == LABEL


def test_four_core_server_uses_erlang_c():
    e = estimate(single(320, cores=4, work_ms=EXPONENTIAL_10))
    # W = S + C(4, 3.2) S / (c - a) = 10 + 0.596432 * 10 / 0.8
    assert e["components"]["s"]["utilization"] == pytest.approx(0.8)
    assert e["latency_ms"]["mean"] == pytest.approx(17.4554, abs=1e-3)


def test_constant_work_halves_the_wait_allen_cunneen():
    e = estimate(single(80, cores=1, work_ms=10))
    # M/D/1: Wq = rho S / (2 (1 - rho)) = 20 ms, exact for one server
    assert e["latency_ms"]["mean"] == pytest.approx(30.0)


def test_balancer_spreads_load_and_latency_adds_hops():
    e = estimate(web_tier(600))
    web, dbc = e["components"]["web"], e["components"]["db"]
    assert web["utilization"] == pytest.approx(600 * 0.008 / 12)
    # db: (540 x 4 ms + 60 x 12 ms) / 8 cores
    assert dbc["utilization"] == pytest.approx((540 * 4 + 60 * 12) / 1000 / 8)
    # Per web instance: 200 rps on 4 cores of 8 ms: a = 1.6
    wait_web = erlang_c(4, 1.6) * 8 / (4 - 1.6)
    mean_db = 0.9 * 4 + 0.1 * 12
    second = 0.9 * 2 * 16 + 0.1 * 2 * 144
    scv = second / mean_db**2 - 1
    wait_db = erlang_c(8, 0.6 * mean_db) * mean_db / (8 - 0.6 * mean_db) * (1 + scv) / 2
    read = 0.2 + 0.5 + wait_web + 8 + 0.5 + wait_db + 4
    assert e["latency_ms"]["read"] == pytest.approx(read, rel=1e-4)
    assert e["bottleneck"]["component"] == "web"
    json.dumps(e)  # JSON-serialisable


def test_database_becomes_the_bottleneck_and_advice_speaks_of_caching_and_replicas():
    e = estimate(web_tier(1000, db_cores=4))
    b = e["bottleneck"]
    assert b["component"] == "db"
    assert b["utilization"] == pytest.approx((900 * 4 + 100 * 12) / 1000 / 4)
    assert e["saturated"] == ["db"]
    # 100 connections: an overloaded database refuses the overflow (M/M/8/100).
    assert e["components"]["db"]["refused_ratio"] == pytest.approx(
        1 - 1 / 1.2, abs=0.01
    )
    assert e["components"]["db"]["utilization"] == pytest.approx(1.0, abs=0.01)
    assert "cache" in b["advice"] and "replica" in b["advice"]
    assert b["capacity_rps"] == pytest.approx(1000 / b["utilization"], rel=1e-3)


def test_read_replicas_take_the_reads_and_the_bottleneck_moves():
    assert estimate(web_tier(1000, db_cores=4))["bottleneck"]["component"] == "db"
    e = estimate(
        web_tier(1000, db_cores=4, db={"replicas": {"count": 3, "reads": "replicas"}})
    )
    nodes = e["components"]["db"]["nodes"]
    assert nodes["primary"]["reads_rps"] == 0
    assert nodes["primary"]["writes_rps"] == pytest.approx(100)
    assert nodes["replica-0"]["reads_rps"] == pytest.approx(300)
    # Its share of the reads (4 ms each) and, like the engine, every write the
    # primary takes, applied (12 ms each) on the replica's 4 cores: replicas relieve
    # reads, not writes.
    assert nodes["replica-0"]["utilization"] == pytest.approx(
        (300 * 0.004 + 100 * 0.012) / 4
    )
    assert e["bottleneck"]["component"] == "web"


def test_uniform_keys_give_capacity_over_keys_with_lru():
    # Che for uniform popularity: N (1 - e^{-x}) = C  =>  h = 1 - e^{-x} = C / N
    h = che_hit_ratio(
        capacity_keys=200_000, key_count=1_000_000, zipf_s=0, read_rps=900
    )
    assert h == pytest.approx(0.2, abs=1e-6)


def test_che_with_binned_tail_matches_the_exact_sum():
    n, s, cap = 100_000, 0.9, 2_000
    p = np.arange(1, n + 1, dtype=float) ** -s
    p /= p.sum()
    lo, hi = 1e-6, 1e9
    for _ in range(200):
        t = math.sqrt(lo * hi)
        if np.sum(-np.expm1(-p * t)) < cap:
            lo = t
        else:
            hi = t
    exact = float(np.sum(p * -np.expm1(-p * t)))
    got = che_hit_ratio(capacity_keys=cap, key_count=n, zipf_s=s, read_rps=1.0)
    assert got == pytest.approx(exact, abs=2e-3)
    assert 0.3 < got < 0.9


def test_lfu_keeps_the_most_popular_keys():
    h = che_hit_ratio(
        capacity_keys=10, key_count=100, zipf_s=1.0, read_rps=1.0, eviction="lfu"
    )
    ranks = np.arange(1, 101, dtype=float) ** -1.0
    assert h == pytest.approx(ranks[:10].sum() / ranks.sum())


def test_ttl_caps_the_hit_ratio_of_rarely_read_keys():
    # One key read 1/s with a 1 s TTL: a miss fills it, 1 hit expected before expiry.
    h = che_hit_ratio(capacity_keys=10, key_count=1, zipf_s=0, read_rps=1.0, ttl_s=1.0)
    assert h == pytest.approx(0.5)


def test_a_cache_cuts_database_reads_by_its_hit_ratio():
    spec = {"type": "cache", "backing": "db", "capacity_keys": 200000, "hit_ms": 0.3}
    e = estimate(web_tier(2000, web={"calls": ["cache"]}, components={"cache": spec}))
    cache, dbc = e["components"]["cache"], e["components"]["db"]
    assert cache["hit_ratio"] == pytest.approx(0.2 * 1800 / (1800 + 200), abs=0.02)
    assert dbc["reads_rps"] == pytest.approx(1800 * (1 - cache["hit_ratio"]), rel=1e-6)
    assert dbc["writes_rps"] == pytest.approx(200)


def test_hash_shards_split_evenly_and_range_shards_concentrate_popular_keys():
    def sharded(strategy: str):
        return web_tier(
            1000,
            keys={"count": 1000000, "zipf_s": 1.0},
            db={"shards": {"count": 4, "strategy": strategy}},
        )

    hashed = estimate(sharded("hash"))
    shares = [n["writes_rps"] for n in hashed["components"]["db"]["nodes"].values()]
    assert shares == pytest.approx([25.0] * 4)
    ranged = estimate(sharded("range"))
    nodes = ranged["components"]["db"]["nodes"]
    assert nodes["shard-0"]["writes_rps"] > 0.9 * 100  # the hotspot
    assert (
        "hash" in ranged["bottleneck"]["advice"]
        or ranged["bottleneck"]["component"] != "db"
    )


def test_usl_contention_stretches_the_work_on_each_instances_cores():
    plain = estimate(web_tier(600))
    usl = estimate(
        web_tier(600, web={"scaling": {"contention": 0.05, "coherency": 0.001}})
    )
    n = 4  # cores per instance: C(4) = 4 / (1 + 0.05 x 3 + 0.001 x 12)
    factor = 1 + 0.05 * (n - 1) + 0.001 * n * (n - 1)
    assert usl["components"]["web"]["utilization"] == pytest.approx(
        plain["components"]["web"]["utilization"] * factor
    )


def test_mmck_matches_the_closed_form_for_one_server():
    # M/M/1/K: P_K = (1 - rho) rho^K / (1 - rho^(K+1)); rho = 0.5, K = 2: 1/7
    blocking, queue = mmck(1, 0.5, 2)
    assert blocking == pytest.approx(1 / 7)
    assert queue == pytest.approx(1 / 7)  # one waiting exactly when full
    # Far from full, M/M/c/K is M/M/c.
    blocking, queue = mmck(4, 3.2, 400)
    assert blocking == pytest.approx(0.0, abs=1e-12)
    assert queue == pytest.approx(erlang_c(4, 3.2) * 3.2 / 0.8)


def test_queue_limit_refuses_the_overflow_and_caps_utilization():
    e = estimate(single(200, cores=1, queue_limit=1, work_ms=EXPONENTIAL_10))
    # rho = 2, K = 2: P_K = 4 / 7, carried 200 x 3/7 requests/s
    assert e["components"]["s"]["utilization"] == pytest.approx(2 * 3 / 7, abs=1e-4)
    assert e["components"]["s"]["refused_ratio"] == pytest.approx(4 / 7, abs=1e-4)
    assert e["components"]["s"]["peak_utilization"] == pytest.approx(2.0)
    assert e["saturated"] == ["s"]


def test_a_saturated_station_without_a_limit_has_no_steady_state_latency():
    e = estimate(single(200, cores=1, work_ms=EXPONENTIAL_10))
    assert e["saturated"] == ["s"]
    assert e["latency_ms"] is None


def test_unreached_components_and_cost():
    spare = {"type": "service", "instances": 2, "cores": 2, "cost_per_hour": 0.5}
    e = estimate(web_tier(100, components={"spare": spare}))
    assert e["components"]["spare"]["reached"] is False
    assert e["components"]["spare"]["offered_rps"] == 0
    assert e["components"]["spare"]["cost_per_hour"] == pytest.approx(1.0)
    assert any("spare" in note for note in e["notes"])
    assert e["cost_per_hour"] > 1.0


# --- any valid document: the estimate answers, in finite, JSON-safe numbers -----------


def _finite(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_any_valid_document_gets_a_finite_json_estimate(tree):
    e = estimate(parse_document(tree))
    json.dumps(e, allow_nan=False)
    assert _finite(e)
    for entry in e["components"].values():
        if entry["utilization"] is not None:
            assert (
                0 <= entry["utilization"] <= 1.0 + 1e-6
                or entry["peak_utilization"] >= 1
            )
            assert entry["peak_utilization"] >= 0
    if e["bottleneck"] is not None:
        assert e["bottleneck"]["component"] in e["components"]
        assert e["bottleneck"]["advice"]


def test_format_estimate_prints_the_table_and_the_bottleneck():
    from simengine.analytic import format_estimate

    text = format_estimate(estimate(web_tier(600)))
    assert text.startswith(LABEL)
    assert "web" in text and "40.0%" in text
    assert "\nbusiest: web at 40.0%\n" in text
    assert (
        "finding: Nothing is under pressure: every component has headroom at this "
        "load; the busiest is web at 40% (3 instances x 4 cores)." in text
    )
    assert "advice: If the load grows, web saturates first" in text


OBJECTIVES = {
    "latency_ms": {"mean": 30, "p99": 100},
    "error_rate": 0.001,
    "throughput_rps": 500,
    "utilization": 0.8,
}


def test_objectives_are_estimated_where_the_estimate_can_say() -> None:
    e = estimate(web_tier(600, objectives=OBJECTIVES))
    got = {o["objective"]: o for o in e["objectives"]}
    assert got["latency_ms.mean"]["estimate"] == e["latency_ms"]["mean"]
    assert got["latency_ms.mean"]["met"] is True  # ~14 ms
    # a tail percentile needs the distribution: only a run says
    assert got["latency_ms.p99"] == {
        "objective": "latency_ms.p99",
        "bound": "max",
        "limit": 100,
        "estimate": None,
        "met": None,
    }
    busiest = max(c["peak_utilization"] or 0 for c in e["components"].values())
    assert got["utilization"]["estimate"] == busiest == pytest.approx(0.4)
    assert got["throughput_rps"]["estimate"] == pytest.approx(600)
    assert got["error_rate"]["estimate"] == 0.0
    assert all(o["met"] for k, o in got.items() if k != "latency_ms.p99")
    text = format_estimate(e)
    assert "objectives (estimate):" in text
    assert "run   latency_ms.p99 <= 100.00 ms: a run measures it" in text


def test_an_overloaded_design_is_estimated_to_miss_its_objectives() -> None:
    # web saturates near 1,500 rps: at 2,000 the queues grow without bound
    e = estimate(web_tier(2000, objectives=OBJECTIVES))
    got = {o["objective"]: o for o in e["objectives"]}
    assert got["latency_ms.mean"]["met"] is False
    assert got["latency_ms.mean"]["estimate"] is None  # unbounded
    assert got["utilization"]["met"] is False
    # what completes is at most what the bottleneck carries
    assert got["throughput_rps"]["estimate"] == pytest.approx(
        e["bottleneck"]["capacity_rps"]
    )
    # the database's connection limit refuses a sixth: missed whatever else fails
    assert got["error_rate"]["estimate"] == pytest.approx(1 / 6, abs=1e-3)
    assert got["error_rate"]["met"] is False
    assert "MISS  latency_ms.mean <= 30.00 ms: unbounded" in format_estimate(e)


def test_an_unbounded_queue_leaves_the_error_rate_to_a_run() -> None:
    e = estimate(
        single(200, cores=1, work_ms=EXPONENTIAL_10, objectives={"error_rate": 0.01})
    )
    # nothing is refused, but the queue grows without bound: clients time out
    (check,) = e["objectives"]
    assert check["met"] is None


def test_a_queue_limit_turns_overload_into_an_estimated_error_rate() -> None:
    e = estimate(
        single(
            200,
            cores=1,
            queue_limit=1,
            work_ms=EXPONENTIAL_10,
            objectives={"error_rate": 0.5},
        )
    )
    (check,) = e["objectives"]
    assert check["estimate"] == pytest.approx(4 / 7, abs=1e-4)  # M/M/1/2 blocking
    assert check["met"] is False


def test_no_objectives_no_objectives_key() -> None:
    assert "objectives" not in estimate(web_tier(600))
