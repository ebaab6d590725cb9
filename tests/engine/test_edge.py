"""The balancer at the edge: rate limits (a token bucket, 429) and a balancer with a
capacity of its own (work_ms on cores), against queueing theory."""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers_engine import document
from queueing_theory import mmc_mean_response, token_bucket_accepted

import simengine
from simengine.analytic import estimate
from simengine.analytic.queueing import token_bucket_share


def _doc(
    lb: dict[str, Any],
    *,
    rps: float,
    duration_s: float,
    warmup_s: float = 0,
    arrivals: str = "poisson",
    web: dict[str, Any] | None = None,
    seed: int = 1,
    faults: list[dict[str, Any]] | None = None,
) -> simengine.Document:
    return document(
        workload={"target": "lb", "rps": rps, "arrivals": arrivals},
        components={
            "lb": {"type": "load_balancer", "overhead_ms": 0, "targets": ["web"], **lb},
            "web": web or {"type": "service", "cores": 64, "work_ms": 1},
        },
        duration_s=duration_s,
        warmup_s=warmup_s,
        seed=seed,
        faults=faults,
    )


def _accepted_share(report: dict[str, Any]) -> float:
    req = report["requests"]
    return (req["offered"] - req["rate_limited"]) / req["offered"]


def _adds_up(req: dict[str, Any]) -> bool:
    ended = req["completed"] + req["errors"] + req["timeouts"] + req["rejected"]
    return ended + req["in_flight"] == req["offered"]


# --- the token bucket -------------------------------------------------------------------


def test_token_bucket_under_twice_its_rate_accepts_its_rate() -> None:
    # Poisson at 2R, a small burst: the bucket is almost never full, so it passes
    # almost exactly R (the exact share is 0.49975, by the M/D/1 balking model)
    doc = _doc({"rate_limit": {"rps": 100, "burst": 5}}, rps=200, duration_s=300)
    report = simengine.simulate(doc)
    req = report["requests"]
    accepted_rps = (req["offered"] - req["rate_limited"]) / 300
    assert accepted_rps == pytest.approx(100, rel=0.02)
    assert _accepted_share(report) == pytest.approx(
        token_bucket_accepted(200, 100, 5), rel=0.02
    )
    # 429s are rejections: the report's identity still holds
    assert req["rate_limited"] == req["rejected"]
    assert _adds_up(req)
    lb = report["components"]["lb"]
    assert lb["rate_limited"] == req["rate_limited"]
    assert lb["throughput_rps"] == pytest.approx(accepted_rps, abs=0.01)


def test_token_bucket_of_one_token_is_an_erlang_loss_system() -> None:
    # burst 1: after each accepted request the bucket is empty for exactly 1/R,
    # M/D/1/1, so the share accepted is 1 / (1 + lambda/R) = 1/3 at lambda = 2R
    doc = _doc({"rate_limit": {"rps": 100, "burst": 1}}, rps=200, duration_s=300)
    report = simengine.simulate(doc)
    assert _accepted_share(report) == pytest.approx(1 / 3, rel=0.02)
    assert token_bucket_accepted(200, 100, 1) == pytest.approx(1 / 3, rel=1e-3)


def test_token_bucket_at_its_rate_refuses_what_the_balking_model_says() -> None:
    # lambda = R, burst 5: neither under nor over, so the answer is the exact one
    # (0.8966 accepted); the fluid level would say 1.0
    doc = _doc({"rate_limit": {"rps": 100, "burst": 5}}, rps=100, duration_s=600)
    report = simengine.simulate(doc)
    exact = token_bucket_accepted(100, 100, 5)
    assert exact == pytest.approx(0.8966, abs=1e-3)
    assert _accepted_share(report) == pytest.approx(exact, rel=0.015)


def test_half_the_rate_with_a_large_burst_refuses_almost_nothing() -> None:
    doc = _doc({"rate_limit": {"rps": 100, "burst": 50}}, rps=50, duration_s=300)
    req = simengine.simulate(doc)["requests"]
    assert req["rate_limited"] < 0.005 * req["offered"]


def test_constant_arrivals_at_the_rate_are_never_refused() -> None:
    # even spacing exactly at R with one token: each arrival finds the token refilled
    doc = _doc(
        {"rate_limit": {"rps": 100, "burst": 1}},
        rps=100,
        duration_s=100,
        arrivals="constant",
    )
    assert simengine.simulate(doc)["requests"]["rate_limited"] == 0


def test_constant_arrivals_at_twice_the_rate_lose_every_other_one() -> None:
    doc = _doc(
        {"rate_limit": {"rps": 100, "burst": 1}},
        rps=200,
        duration_s=100,
        arrivals="constant",
    )
    req = simengine.simulate(doc)["requests"]
    assert abs(req["rate_limited"] - req["offered"] / 2) <= 1


def test_a_full_bucket_lets_a_burst_through_first() -> None:
    # constant 1,000 req/s against 100 tokens/s and a burst of 200: the first
    # 200-odd requests pass on the stored tokens, then 100 per second
    doc = _doc(
        {"rate_limit": {"rps": 100, "burst": 200}},
        rps=1000,
        duration_s=10,
        arrivals="constant",
    )
    req = simengine.simulate(doc)["requests"]
    passed = req["offered"] - req["rate_limited"]
    # tokens: 200 at the start + 100 per second over 10 s (plus the refill during
    # the first 0.22 s burst)
    assert 1195 <= passed <= 1201


def test_rate_limited_windows_add_up_to_the_report() -> None:
    doc = _doc(
        {"rate_limit": {"rps": 100, "burst": 3}}, rps=150, duration_s=30, warmup_s=5
    )
    report = simengine.simulate(doc)
    req = report["requests"]
    total = sum(w["rate_limited_rps"] * w["window_s"] for w in report["timeline"])
    assert total == pytest.approx(req["rate_limited"], abs=1e-6)
    assert all(
        w["rate_limited_rps"] <= w["rejected_rps"] + 1e-9 for w in report["timeline"]
    )
    assert all("rate_limited_rps" in w["components"]["lb"] for w in report["timeline"])
    assert _adds_up(req)
    assert 0 < req["rate_limited"] <= req["rejected"]


def test_a_document_without_the_new_fields_has_none_of_their_keys() -> None:
    doc = _doc({}, rps=50, duration_s=5)
    report = simengine.simulate(doc)
    assert "rate_limited" not in report["requests"]
    lb = report["components"]["lb"]
    assert "rate_limited" not in lb
    assert lb["utilization"] is None and lb["utilization_note"]
    window = report["timeline"][0]
    assert "rate_limited_rps" not in window
    assert set(window["components"]["lb"]) == {
        "utilization",
        "throughput_rps",
        "errors_rps",
    }


# --- a balancer with work of its own -----------------------------------------------------


def test_balancer_work_at_80_percent_on_one_core_is_an_mm1() -> None:
    # exponential 0.8 ms at 1,000 req/s: rho 0.8, mean 1/(mu - lambda) = 4.0 ms
    doc = _doc({"work_ms": {"mean": 0.8}}, rps=1000, duration_s=300)
    report = simengine.simulate(doc)
    lb = report["components"]["lb"]
    assert lb["utilization"] == pytest.approx(0.8, abs=0.01)
    assert lb["latency_ms"]["mean"] == pytest.approx(4.0, rel=0.03)
    assert "utilization_note" not in lb
    assert lb["queue_mean"] == pytest.approx(0.8 * 0.8 / 0.2, rel=0.05)  # Lq of M/M/1
    windows = [w["components"]["lb"]["utilization"] for w in report["timeline"]]
    assert all(u is not None for u in windows)
    assert sum(windows) / len(windows) == pytest.approx(0.8, abs=0.01)


def test_balancer_constant_work_at_80_percent_is_an_md1() -> None:
    # constant 0.8 ms at 1,000 req/s: Pollaczek-Khinchine W = s + rho s / (2 (1 - rho))
    doc = _doc({"work_ms": 0.8}, rps=1000, duration_s=200)
    lb = simengine.simulate(doc)["components"]["lb"]
    assert lb["latency_ms"]["mean"] == pytest.approx(0.8 + 0.8 * 0.8 / 0.4, rel=0.02)


def test_balancer_with_two_cores_at_80_percent_is_an_mm2() -> None:
    doc = _doc({"work_ms": {"mean": 1.6}, "cores": 2}, rps=1000, duration_s=200)
    lb = simengine.simulate(doc)["components"]["lb"]
    theory_ms = mmc_mean_response(1000, 1000 / 1.6, 2) * 1000
    assert lb["utilization"] == pytest.approx(0.8, abs=0.01)
    assert lb["latency_ms"]["mean"] == pytest.approx(theory_ms, rel=0.03)
    assert lb["cores"] == 2


def test_work_and_overhead_add_up_end_to_end() -> None:
    # constant work 1 ms at a light load, overhead 0.5 ms, web 1 ms constant
    doc = _doc(
        {"work_ms": 1, "overhead_ms": 0.5},
        rps=10,
        duration_s=50,
        web={"type": "service", "cores": 64, "work_ms": 1},
    )
    report = simengine.simulate(doc)
    assert report["latency_ms"]["p50"] == pytest.approx(2.5, rel=0.01)
    assert report["components"]["lb"]["latency_ms"]["p50"] == pytest.approx(
        1.5, rel=0.01
    )


def test_a_dead_balancer_instance_takes_its_share_of_capacity() -> None:
    # two instances, one dead from the start: every request queues at the other
    doc = _doc(
        {"work_ms": {"mean": 0.8}, "instances": 2},
        rps=500,
        duration_s=100,
        faults=[{"at_s": 0, "component": "lb", "instance": 0}],
    )
    report = simengine.simulate(doc)
    lb = report["components"]["lb"]
    assert report["requests"]["errors"] == 0
    # the live instance is an M/M/1 at 40%: utilization of the cores that are up
    assert lb["utilization"] == pytest.approx(0.4, abs=0.01)
    assert lb["latency_ms"]["mean"] == pytest.approx(0.8 / 0.6, rel=0.03)


def test_a_balancer_instance_that_dies_fails_its_queue() -> None:
    doc = _doc(
        {"work_ms": {"mean": 0.9}, "instances": 2},
        rps=2000,
        duration_s=20,
        faults=[{"at_s": 10, "component": "lb", "instance": 0, "for_s": 5}],
    )
    report = simengine.simulate(doc)
    assert report["requests"]["errors"] > 0  # the queue and job it held
    assert report["components"]["lb"]["errors"] == report["requests"]["errors"]
    assert _adds_up(report["requests"])


def test_a_busy_balancer_is_named_the_bottleneck() -> None:
    doc = _doc(
        {"work_ms": {"mean": 0.9}},
        rps=1000,
        duration_s=30,
        web={"type": "service", "instances": 2, "cores": 4, "work_ms": {"mean": 4}},
    )
    report = simengine.simulate(doc)
    assert report["components"]["web"]["utilization"] == pytest.approx(0.5, abs=0.03)
    neck = report["bottleneck"]
    assert neck["component"] == "lb"
    assert neck["utilization"] == pytest.approx(0.9, abs=0.02)
    assert neck["advice"].startswith("lb is the bottleneck")
    assert "balancer instances" in neck["advice"]
    est = estimate(doc)
    assert est["bottleneck"]["component"] == "lb"
    assert est["bottleneck"]["utilization"] == pytest.approx(0.9)


def test_an_idle_balancer_with_work_leaves_the_busier_service_the_bottleneck() -> None:
    doc = _doc(
        {"work_ms": {"mean": 0.1}},
        rps=1000,
        duration_s=20,
        web={"type": "service", "instances": 2, "cores": 4, "work_ms": {"mean": 7}},
    )
    report = simengine.simulate(doc)
    assert report["bottleneck"]["component"] == "web"
    assert report["components"]["lb"]["utilization"] == pytest.approx(0.1, abs=0.01)


# --- the estimate ---------------------------------------------------------------------


def test_estimate_of_balancer_work_is_the_mm1() -> None:
    doc = _doc({"work_ms": {"mean": 0.8}}, rps=1000, duration_s=10)
    lb = estimate(doc)["components"]["lb"]
    assert lb["utilization"] == pytest.approx(0.8)
    # its latency includes the web tier below it (1 ms constant, no wait)
    assert lb["latency_ms"]["mean"] == pytest.approx(4.0 + 1.0, rel=1e-3)
    assert lb["level"] == "warm"


def test_estimate_of_constant_balancer_work_is_pollaczek_khinchine() -> None:
    doc = _doc({"work_ms": 0.8}, rps=1000, duration_s=10)
    lb = estimate(doc)["components"]["lb"]
    assert lb["latency_ms"]["mean"] == pytest.approx(2.4 + 1.0, rel=1e-3)


@pytest.mark.parametrize(
    ("rps", "rate", "burst", "share"),
    [
        (200, 100, 1, 1 / 3),  # Erlang loss
        (100, 100, 1, 1 / 2),
        (200, 100, 5, 0.49975),
        (100, 100, 5, 0.8966),
        (50, 100, 50, 1.0),
        (150, 100, 10, 2 / 3),
    ],
)
def test_estimate_token_bucket_share_matches_theory(
    rps: float, rate: float, burst: int, share: float
) -> None:
    assert token_bucket_share(rps, rate, burst) == pytest.approx(share, abs=2e-4)
    assert token_bucket_share(rps, rate, burst) == pytest.approx(
        token_bucket_accepted(rps, rate, burst), abs=2e-4
    )


def test_estimate_of_a_large_burst_is_the_fluid_level() -> None:
    # beyond the exact range the fluid min(1, R / lambda) is within 1/(2B)
    assert token_bucket_share(300, 100, 5000) == pytest.approx(1 / 3)
    assert token_bucket_share(100, 100, 1000) == pytest.approx(1.0, abs=1e-3)


def test_estimate_passes_on_what_the_rate_limit_accepts() -> None:
    doc = _doc({"rate_limit": {"rps": 100, "burst": 5}}, rps=200, duration_s=10)
    est = estimate(doc)
    lb = est["components"]["lb"]
    assert lb["accepted_rps"] == pytest.approx(200 * 0.49975, rel=1e-3)
    assert lb["rate_limited_rps"] == pytest.approx(200 * 0.50025, rel=1e-3)
    assert lb["refused_ratio"] == pytest.approx(0.5, abs=1e-3)
    assert est["components"]["web"]["offered_rps"] == pytest.approx(
        lb["accepted_rps"], rel=1e-3
    )
    assert lb["utilization"] is None  # a rate limit alone is no capacity
    assert any("token bucket" in n for n in est["notes"])


def test_estimate_of_constant_arrivals_is_the_fluid_level() -> None:
    doc = _doc(
        {"rate_limit": {"rps": 100, "burst": 5}},
        rps=250,
        duration_s=10,
        arrivals="constant",
    )
    est = estimate(doc)
    assert est["components"]["lb"]["accepted_rps"] == pytest.approx(100)
    assert any("fluid level" in n for n in est["notes"])


def test_estimate_of_an_unreached_plain_balancer_is_unchanged() -> None:
    doc = document(
        workload={"target": "web", "rps": 10},
        components={
            "lb": {"type": "load_balancer", "targets": ["web"]},
            "web": {"type": "service"},
        },
        duration_s=5,
        warmup_s=0,
    )
    assert estimate(doc)["components"]["lb"]["utilization"] is None


# --- documents ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "path", "words"),
    [
        ({"rate_limit": {"rps": 0, "burst": 1}}, "rate_limit.rps", "> 0"),
        ({"rate_limit": {"rps": -5, "burst": 1}}, "rate_limit.rps", "> 0"),
        ({"rate_limit": {"rps": 5, "burst": 0}}, "rate_limit.burst", ">= 1"),
        ({"rate_limit": {"rps": 5, "burst": 1.5}}, "rate_limit.burst", "integer"),
        ({"rate_limit": {"rps": 5}}, "rate_limit.burst", "required"),
        ({"rate_limit": {"burst": 5}}, "rate_limit.rps", "required"),
        ({"rate_limit": {"rps": "5", "burst": 2}}, "rate_limit.rps", "number"),
        (
            {"rate_limit": {"rps": 5, "burst": 2, "bust": 1}},
            "rate_limit.bust",
            "unknown",
        ),
        ({"work_ms": -1}, "work_ms", ">= 0"),
        ({"work_ms": {"dist": "erlang", "mean": 1}}, "work_ms.k", "erlang"),
        ({"work_ms": 1, "cores": 0}, "cores", ">= 1"),
        ({"work_ms": 1, "cores": 1.5}, "cores", "integer"),
        ({"cores": 2}, "cores", "work_ms"),
    ],
)
def test_bad_edge_values_name_their_field(
    fields: dict[str, Any], path: str, words: str
) -> None:
    tree = {
        "scaleboard": 1,
        "workload": {"target": "lb", "rps": 10},
        "components": {
            "lb": {"type": "load_balancer", "targets": ["web"], **fields},
            "web": {"type": "service"},
        },
    }
    with pytest.raises(simengine.DocumentError) as err:
        simengine.parse_document(tree)
    messages = {e.path: e.message for e in err.value.errors}
    assert f"components.lb.{path}" in messages, messages
    assert words in messages[f"components.lb.{path}"]


def test_edge_fields_parse_and_round_trip() -> None:
    doc = _doc(
        {"rate_limit": {"rps": 50, "burst": 10}, "work_ms": {"mean": 2}, "cores": 2},
        rps=10,
        duration_s=5,
    )
    lb = doc.components["lb"]
    assert lb.rate_limit.rps == 50 and lb.rate_limit.burst == 10
    assert lb.cores == 2 and lb.work_ms.mean == 2
    again = simengine.parse_document(doc.model_dump(mode="json"))
    assert again == doc
    props = simengine.document_schema()["$defs"]["LoadBalancer"]["properties"]
    assert {"rate_limit", "work_ms", "cores"} <= set(props)


def test_same_seed_same_report_with_rate_limit_and_work() -> None:
    lb = {"rate_limit": {"rps": 300, "burst": 20}, "work_ms": {"mean": 2}, "cores": 2}
    one = simengine.simulate(_doc(lb, rps=400, duration_s=20))
    two = simengine.simulate(_doc(lb, rps=400, duration_s=20))
    other = simengine.simulate(_doc(lb, rps=400, duration_s=20, seed=2))
    assert json.dumps(one, sort_keys=True) == json.dumps(two, sort_keys=True)
    assert json.dumps(one, sort_keys=True) != json.dumps(other, sort_keys=True)


def test_replications_average_the_rate_limited_count() -> None:
    tree_doc = document(
        workload={"target": "lb", "rps": 200},
        components={
            "lb": {
                "type": "load_balancer",
                "targets": ["web"],
                "rate_limit": {"rps": 100, "burst": 2},
            },
            "web": {"type": "service", "cores": 8, "work_ms": 1},
        },
        duration_s=20,
        warmup_s=0,
        replications=3,
    )
    report = simengine.simulate(tree_doc)
    assert "requests.rate_limited" in report["ci95"]
    assert "components.lb.rate_limited" in report["ci95"]


def test_estimate_of_bursty_arrivals_clips_each_burst() -> None:
    # 3x for 5 s in every 20 s: 1,800 req/s in bursts, 200 between; the bucket
    # passes 1,200/s in a burst plus the 300 tokens saved while quiet:
    # (5 x 1200 + 300 + 15 x 200) / 20 = 465 req/s of the 600 offered
    lb = {"rate_limit": {"rps": 1200, "burst": 300}}
    doc = _doc(lb, rps=600, duration_s=400, arrivals="bursty")
    est = estimate(doc)["components"]["lb"]
    assert est["accepted_rps"] == pytest.approx(465.0)
    req = simengine.simulate(doc)["requests"]
    measured_rps = (req["offered"] - req["rate_limited"]) / 400
    assert measured_rps == pytest.approx(est["accepted_rps"], rel=0.02)
