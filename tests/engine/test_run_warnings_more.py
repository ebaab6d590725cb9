"""Warnings a user needs to read a run right: a cache still warming up when the run
ends, and servers still working for clients that gave up."""

from __future__ import annotations

import simengine
from tests.engine.helpers_engine import document


def _cache_doc(*, duration_s: float, warmup_s: float, keys: int, capacity: int):
    return document(
        workload={
            "target": "app",
            "rps": 400,
            "read_ratio": 1.0,
            "keys": {"count": keys, "zipf_s": 0.8},
        },
        components={
            "app": {
                "type": "service",
                "instances": 2,
                "cores": 4,
                "work_ms": 2,
                "calls": ["cache"],
            },
            "cache": {
                "type": "cache",
                "strategy": "cache_aside",
                "capacity_keys": capacity,
                "eviction": "lru",
                "hit_ms": 0.5,
                "backing": "db",
            },
            "db": {"type": "database", "primary": {"cores": 16, "read_ms": 2}},
        },
        duration_s=duration_s,
        warmup_s=warmup_s,
        seed=4,
    )


def _warming(report) -> list[str]:
    return [w for w in report["warnings"] if "still warming up" in w]


def test_a_cold_cache_with_a_big_key_space_is_still_warming_at_the_end():
    report = simengine.simulate(
        _cache_doc(duration_s=120, warmup_s=0, keys=1_000_000, capacity=200_000)
    )
    (warning,) = _warming(report)
    assert warning.startswith("cache cache was still warming up")
    first, last = report["timeline"][0], report["timeline"][-1]
    hit = "hit_ratio"
    assert last["components"]["cache"][hit] > first["components"]["cache"][hit] + 0.05


def test_a_warm_cache_at_its_steady_hit_ratio_raises_no_warning():
    # a key space the cache holds whole, warmed up before measuring
    report = simengine.simulate(
        _cache_doc(duration_s=60, warmup_s=30, keys=2_000, capacity=5_000)
    )
    assert _warming(report) == []


def test_servers_working_for_clients_that_timed_out_are_called_out():
    doc = document(
        workload={"target": "app", "rps": 300, "timeout_ms": 300},
        components={
            "app": {"type": "service", "instances": 1, "cores": 2, "work_ms": 8}
        },
        duration_s=30,
        warmup_s=0,
        seed=2,
    )
    report = simengine.simulate(doc)
    assert report["requests"]["timeouts"] > 0
    (warning,) = [w for w in report["warnings"] if "reached their clients" in w]
    served = report["components"]["app"]["throughput_rps"]
    assert served > 1.05 * report["throughput_rps"]
    assert warning.startswith(f"app served {served:,.1f} req/s")


def test_no_timeouts_means_no_wasted_work_warning():
    doc = document(
        workload={"target": "app", "rps": 100},
        components={
            "app": {"type": "service", "instances": 1, "cores": 2, "work_ms": 8}
        },
        duration_s=20,
        warmup_s=0,
    )
    report = simengine.simulate(doc)
    assert not [w for w in report["warnings"] if "reached their clients" in w]
