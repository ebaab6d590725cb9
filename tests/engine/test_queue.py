"""A queue between services (``type: queue``): the consumer side against M/M/c and
M/M/c/K, the producer's side (the publish only), windows, the estimate, documents."""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers_engine import document, document_tree
from queueing_theory import erlang_c, mmck_blocking

import simengine
from simengine import DocumentError, parse_document
from simengine.analytic import estimate

MU = 25.0  # the consumer's service rate: 40 ms of exponential work


def _queue_doc(
    rps: float,
    *,
    concurrency: int = 4,
    instances: int = 1,
    capacity: int | None = None,
    when_full: str | None = None,
    duration_s: float = 4000,
    seed: int = 3,
) -> simengine.Document:
    q: dict[str, Any] = {
        "type": "queue",
        "consumers": "worker",
        "concurrency": concurrency,
    }
    if capacity is not None:
        q["capacity"] = capacity
    if when_full is not None:
        q["when_full"] = when_full
    return document(
        workload={"target": "q", "rps": rps},
        components={
            "q": q,
            # as many cores as the queue's concurrency: a message never waits here
            "worker": {
                "type": "service",
                "instances": instances,
                "cores": concurrency // instances,
                "work_ms": {"mean": 1000.0 / MU},
            },
        },
        duration_s=duration_s,
        warmup_s=50,
        snapshot_s=10,
        seed=seed,
    )


def _mmc_wait_ms(lam: float, mu: float, c: int) -> float:
    return erlang_c(c, lam / mu) / (c * mu - lam) * 1000.0


@pytest.mark.parametrize("instances", [1, 4])
def test_consumer_wait_matches_mmc_erlang_c_when_consumers_keep_up(
    instances: int,
) -> None:
    # one 4-core consumer, or four 1-core ones pulling a message when idle: either
    # way the broker is one queue in front of 4 servers
    lam, c = 60.0, 4  # rho 0.6, about 240,000 messages
    report = simengine.simulate(_queue_doc(lam, concurrency=c, instances=instances))
    q = report["components"]["q"]
    theory = _mmc_wait_ms(lam, MU, c)  # 9.0 ms
    wait = q["consumer_lag_ms"]["wait_mean"]
    assert wait == pytest.approx(theory, rel=0.03)
    assert q["latency_ms"]["mean"] == wait  # latency_ms is the time in the broker
    # end to end = wait + the consumer's response, and against theory
    e2e = q["end_to_end_ms"]["mean"]
    consumer = report["components"]["worker"]["latency_ms"]["mean"]
    assert e2e == pytest.approx(wait + consumer, rel=0.005)
    assert e2e == pytest.approx(theory + 1000.0 / MU, rel=0.02)
    # Little's law on the waiting messages
    assert q["depth"]["mean"] == pytest.approx(lam * wait / 1000.0, rel=0.02)
    assert q["consumed"] == pytest.approx(q["published"], abs=c + 20)
    assert q["rejected"] == q["dropped"] == 0
    assert not any("grew" in w for w in report["warnings"])
    # the oldest message's age is a lower, time-weighted figure, under the max
    assert 0 < q["consumer_lag_ms"]["mean"] < wait < q["consumer_lag_ms"]["max"]


def test_clients_of_a_queue_wait_for_the_publish_only() -> None:
    report = simengine.simulate(_queue_doc(60.0, duration_s=300))
    req = report["requests"]
    assert req["completed"] + req["in_flight"] == req["offered"]
    assert req["rejected"] == req["errors"] == 0
    assert report["latency_ms"]["mean"] == pytest.approx(1.0)  # publish_ms
    assert report["latency_ms"]["max"] == pytest.approx(1.0)
    # the consumer's requests are counted at the consumer, not as client requests
    assert report["components"]["worker"]["throughput_rps"] == pytest.approx(
        60.0, rel=0.05
    )


def test_full_queue_with_reject_refuses_the_mmck_blocking_share() -> None:
    lam, c, capacity = 90.0, 4, 6  # rho 0.9, K = c + capacity = 10
    report = simengine.simulate(
        _queue_doc(lam, concurrency=c, capacity=capacity, duration_s=2000)
    )
    q = report["components"]["q"]
    theory = mmck_blocking(lam, MU, c, c + capacity)  # 0.0705
    assert q["rejected"] / q["published"] == pytest.approx(theory, rel=0.05, abs=0.01)
    assert abs(q["rejected"] / q["published"] - theory) < 0.006
    assert q["depth"]["max"] <= capacity
    assert q["dropped"] == 0
    # the producer (here the clients) sees each refused publish as rejected
    assert report["requests"]["rejected"] == q["rejected"]
    est = estimate(_queue_doc(lam, concurrency=c, capacity=capacity))
    assert est["components"]["q"]["refused_ratio"] == pytest.approx(theory, abs=1e-4)


def test_drop_oldest_keeps_depth_within_capacity_and_counts_drops() -> None:
    lam, c, capacity = 90.0, 4, 6
    report = simengine.simulate(
        _queue_doc(
            lam,
            concurrency=c,
            capacity=capacity,
            when_full="drop_oldest",
            duration_s=2000,
        )
    )
    q = report["components"]["q"]
    # the number in the system is the M/M/c/K chain: as many dropped as refused
    theory = mmck_blocking(lam, MU, c, c + capacity)
    assert q["dropped"] / q["published"] == pytest.approx(theory, rel=0.05, abs=0.01)
    assert q["depth"]["max"] <= capacity
    assert all(w["components"]["q"]["depth"] <= capacity for w in report["timeline"])
    assert q["rejected"] == 0
    assert report["requests"]["rejected"] == 0  # every publish was accepted
    assert q["consumed"] + q["dropped"] == pytest.approx(q["published"], abs=20)


def test_windows_carry_depth_and_lag_and_an_overloaded_queue_grows() -> None:
    lam, c = 120.0, 4  # consumers carry at most 100 msg/s
    doc = _queue_doc(lam, concurrency=c, duration_s=200)
    report = simengine.simulate(doc)
    windows = [w["components"]["q"] for w in report["timeline"]]
    assert all(
        set(w) == {"utilization", "throughput_rps", "depth", "lag_ms"} for w in windows
    )
    assert all(w["utilization"] is None for w in windows)
    # about 20 msg/s more than the consumers carry: the depth grows that fast
    growth = (windows[-1]["depth"] - windows[0]["depth"]) / (len(windows) - 1) / 10
    assert growth == pytest.approx(lam - c * MU, rel=0.15)
    assert windows[-1]["lag_ms"] > windows[0]["lag_ms"] > 0
    assert windows[-1]["throughput_rps"] == pytest.approx(c * MU, rel=0.1)
    assert any("queue q grew" in w for w in report["warnings"])
    # the estimate says so instead of giving a lag
    est = estimate(doc)
    assert est["components"]["q"]["consumer_wait_ms"] is None
    assert est["components"]["q"]["grows_msg_per_s"] == pytest.approx(lam - c * MU)
    assert any(
        "Estimate not available for queue q" in n and "20.0 msg/s" in n
        for n in est["notes"]
    )


def test_estimate_gives_the_erlang_c_lag_and_the_end_to_end_time() -> None:
    for lam in (30.0, 60.0, 90.0):
        entry = estimate(_queue_doc(lam))["components"]["q"]
        theory = _mmc_wait_ms(lam, MU, 4)
        assert entry["consumer_wait_ms"] == pytest.approx(theory, rel=1e-3)
        assert entry["end_to_end_ms"] == pytest.approx(theory + 40.0, rel=1e-3)
        assert entry["grows_msg_per_s"] is None
    est = estimate(_queue_doc(60.0))
    assert est["latency_ms"]["mean"] == pytest.approx(1.0)  # the publish only
    # the consumer has a core for each message the queue hands it: no wait there
    assert est["components"]["worker"]["wait_ms"] == 0.0


def test_a_service_publishing_waits_for_the_publish_not_the_consumer() -> None:
    doc = document(
        workload={"target": "checkout", "rps": 50},
        components={
            "checkout": {"type": "service", "cores": 8, "work_ms": 5, "calls": ["q"]},
            "q": {"type": "queue", "consumers": "payment", "concurrency": 2},
            "payment": {"type": "service", "cores": 2, "work_ms": {"mean": 20}},
        },
        network={"hop_ms": 0.5},
        duration_s=300,
        warmup_s=10,
    )
    report = simengine.simulate(doc)
    # checkout's 5 ms, the hop to the queue and the 1 ms publish; never payment
    assert report["latency_ms"]["mean"] == pytest.approx(5 + 0.5 + 0.5 + 1, rel=1e-6)
    q = report["components"]["q"]
    # the consumer's response is its 20 ms and the hop from the queue: rho 0.51
    wait = _mmc_wait_ms(50.0, 1000.0 / 20.5, 2)
    assert q["end_to_end_ms"]["mean"] == pytest.approx(wait + 20.5, rel=0.05)
    est = estimate(doc)
    # (the estimate leaves out the clients' own hop to the target, as it always has)
    assert est["latency_ms"]["mean"] == pytest.approx(7.0 - 0.5)
    assert est["components"]["q"]["consumer_wait_ms"] == pytest.approx(
        erlang_c(2, (50 * 20.5 / 1000)) * 20.5 / (2 - 50 * 20.5 / 1000), abs=1e-3
    )
    assert "consumes queue q" in report["bottleneck"]["advice"] or (
        report["bottleneck"]["component"] != "payment"
    )


def test_same_seed_same_report_other_seed_differs() -> None:
    a = json.dumps(simengine.simulate(_queue_doc(70, duration_s=60)), sort_keys=True)
    b = json.dumps(simengine.simulate(_queue_doc(70, duration_s=60)), sort_keys=True)
    c = json.dumps(
        simengine.simulate(_queue_doc(70, duration_s=60, seed=4)), sort_keys=True
    )
    assert a == b
    assert a != c


# --- documents ------------------------------------------------------------------------


def _tree(**queue: Any) -> dict[str, Any]:
    return document_tree(
        workload={"target": "q", "rps": 10},
        components={
            "q": {"type": "queue", "consumers": "worker", **queue},
            "worker": {"type": "service"},
            "db": {"type": "database"},
        },
        duration_s=10,
        warmup_s=0,
    )


def _paths(tree: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(DocumentError) as info:
        parse_document(tree)
    return {e.path: e.message for e in info.value.errors}


@pytest.mark.parametrize(
    ("queue", "path", "words"),
    [
        ({"concurrency": 0}, "components.q.concurrency", ">= 1"),
        ({"concurrency": 2.5}, "components.q.concurrency", "integer"),
        ({"capacity": 0}, "components.q.capacity", ">= 1"),
        ({"when_full": "drop"}, "components.q.when_full", "drop_oldest"),
        ({"publish_ms": -1}, "components.q.publish_ms", ""),
        ({"consumers": "wroker"}, "components.q.consumers", "did you mean 'worker'"),
        ({"consumers": "db"}, "components.q.consumers", "a queue's consumers"),
        ({"consumer": "worker"}, "components.q.consumer", "unknown field"),
    ],
)
def test_bad_queue_values_name_their_field(
    queue: dict[str, Any], path: str, words: str
) -> None:
    errors = _paths(_tree(**queue))
    assert path in errors, errors
    assert words in errors[path]


def test_a_queue_cannot_be_faulted_and_a_cycle_through_it_is_refused() -> None:
    tree = _tree()
    tree["faults"] = [{"at_s": 1, "component": "q"}]
    errors = _paths(tree)
    assert "cannot fail" in errors["faults[0].component"]
    tree = _tree()
    tree["components"]["worker"]["calls"] = ["q"]
    errors = _paths(tree)
    assert any("cycle" in m for m in errors.values())
