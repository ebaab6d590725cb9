"""Clients that retry (workload.retry): counting, theory, the retry storm."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import yaml
from helpers_engine import document

import simengine
from simengine import DocumentError, parse_document
from simengine.analytic import estimate, format_estimate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _tree(name: str) -> dict:
    return yaml.safe_load((EXAMPLES / name).read_text())


def _service_doc(retry, *, rps=50.0, timeout_ms=None, faults=None, warmup_s=0.0):
    workload = {"target": "web", "rps": rps}
    if retry is not None:
        workload["retry"] = retry
    if timeout_ms is not None:
        workload["timeout_ms"] = timeout_ms
    return document(
        workload=workload,
        components={"web": {"type": "service", "work_ms": {"mean": 10}}},
        duration_s=20,
        warmup_s=warmup_s,
        faults=faults,
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max", -1, "must be >= 0 (got -1)"),
        ("max", 21, "must be <= 20 (got 21)"),
        ("max", 2.5, "must be an integer (got 2.5)"),
        ("backoff_ms", -1, "must be >= 0 (got -1)"),
        ("factor", 0.5, "must be >= 1 (got 0.5)"),
        ("jitter", "yes", "must be true or false (got 'yes')"),
        ("budget", 1.5, "must be <= 1 (got 1.5)"),
    ],
)
def test_bad_retry_values_are_errors_naming_the_field(field, value, message):
    tree = _tree("retry-storm.yaml")
    tree["workload"]["retry"][field] = value
    with pytest.raises(DocumentError) as info:
        parse_document(tree)
    errors = [(e.path, e.message) for e in info.value.errors]
    assert errors == [(f"workload.retry.{field}", message)]


def test_an_unknown_retry_field_is_named_with_a_near_name():
    tree = _tree("retry-storm.yaml")
    tree["workload"]["retry"]["maxx"] = 1
    with pytest.raises(DocumentError) as info:
        parse_document(tree)
    assert str(info.value) == "workload.retry.maxx: unknown field: did you mean 'max'?"


def test_a_service_that_always_errors_makes_max_plus_one_attempts_per_request():
    doc = _service_doc(
        {"max": 3, "backoff_ms": 0}, faults=[{"at_s": 0, "component": "web"}]
    )
    req = simengine.simulate(doc)["requests"]
    assert req["offered"] > 900
    assert req["completed"] == 0 and req["in_flight"] == 0
    assert req["errors"] == req["gave_up"] == req["offered"]
    assert req["retries"] == 3 * req["offered"]
    assert req["attempts"] == 4 * req["offered"]


def test_a_fault_free_service_without_timeouts_makes_no_retries():
    req = simengine.simulate(_service_doc({"max": 3}))["requests"]
    assert req["retries"] == 0 and req["gave_up"] == 0
    assert req["completed"] + req["in_flight"] == req["offered"]


def test_no_retries_at_all_is_the_document_without_retry():
    plain = simengine.simulate(_service_doc(None, timeout_ms=20))
    zero = simengine.simulate(_service_doc({"max": 0}, timeout_ms=20))
    assert zero["requests"]["retries"] == 0
    assert zero["requests"]["gave_up"] == plain["requests"]["timeouts"] > 100
    for key in ("offered", "completed", "errors", "timeouts", "rejected"):
        assert zero["requests"][key] == plain["requests"][key], key
    assert zero["latency_ms"] == plain["latency_ms"]


def test_the_requests_still_add_up_with_retries_and_a_warmup():
    doc = _service_doc({"max": 2, "backoff_ms": 5}, rps=80, timeout_ms=25, warmup_s=5)
    rep = simengine.simulate(doc)
    req = rep["requests"]
    ended = req["completed"] + req["errors"] + req["timeouts"] + req["rejected"]
    assert ended + req["in_flight"] == req["offered"]
    assert req["gave_up"] == req["errors"] + req["timeouts"] + req["rejected"]
    assert req["retries"] == sum(w["retries"] for w in rep["timeline"]) > 0
    w = rep["timeline"][3]
    assert w["attempts_rps"] == pytest.approx(w["offered_rps"] + w["retries_rps"])


def test_timeout_retries_at_low_load_follow_the_mm1_response_tail():
    """M/M/1 (mu 100/s) at 20 req/s, timeout 30 ms, one re-send after a jittered
    5 s backoff (so re-sends arrive independently of the queue they left). An
    attempt times out with P = exp(-(mu - lambda') T), where lambda' = lambda (1 + P)
    counts the re-sends (abandoned attempts are still served): the fixed point."""
    lam, mu, t = 20.0, 100.0, 0.030
    p = 0.1
    for _ in range(50):
        p = math.exp(-(mu - lam * (1 + p)) * t)
    assert p == pytest.approx(0.0962, abs=2e-4)
    doc = document(
        workload={
            "target": "web",
            "rps": lam,
            "timeout_ms": t * 1000,
            "retry": {"max": 1, "backoff_ms": 5000, "jitter": True},
        },
        components={"web": {"type": "service", "work_ms": {"mean": 1000 / mu}}},
        duration_s=10_000,
        warmup_s=20,
        seed=7,
        snapshot_s=100,
    )
    rep = simengine.simulate(doc)
    req = rep["requests"]
    assert req["retries"] / req["offered"] == pytest.approx(p, rel=0.03)
    assert req["timeouts"] / req["offered"] == pytest.approx(p * p, rel=0.10)
    util = rep["components"]["web"]["utilization"]
    assert util == pytest.approx(lam * (1 + p) / mu, abs=0.005)


def _last_third(report: dict) -> dict[str, float]:
    tl = report["timeline"]
    last = tl[len(tl) * 2 // 3 :]
    offered = sum(w["offered_rps"] for w in last)
    return {
        "goodput": sum(w["rps"] for w in last) / offered,
        "timeouts": sum(w["timeouts_rps"] for w in last) / offered,
        "attempts": sum(w["attempts_rps"] for w in last) / offered,
        "utilization": sum(w["components"]["web"]["utilization"] for w in last)
        / len(last),
    }


def test_the_retry_storm_stays_down_after_the_spike_and_the_budget_breaks_it():
    report = simengine.simulate(parse_document(_tree("retry-storm.yaml")))
    assert any(w.startswith("clients made 3.4 attempts") for w in report["warnings"])
    storm = _last_third(report)
    assert storm["goodput"] < 0.05  # nearly nothing completes, 100 s after the spike
    assert storm["timeouts"] > 0.95  # every request times out after 4 attempts
    assert storm["attempts"] == pytest.approx(4.0, rel=0.02)
    assert storm["utilization"] > 0.99  # the server is busy with abandoned work
    tree = _tree("retry-storm-backoff.yaml")
    report = simengine.simulate(parse_document(tree))
    assert not any(w.startswith("clients made") for w in report["warnings"])
    fixed = _last_third(report)
    assert fixed["goodput"] == pytest.approx(1.0, abs=0.01)
    assert fixed["timeouts"] < 0.01
    assert fixed["utilization"] == pytest.approx(0.7, abs=0.03)


def test_backoff_and_jitter_alone_do_not_end_the_storm_of_open_arrivals():
    """Without the budget every request still makes its 4 attempts, only later:
    1,120 attempts/s against 400/s of capacity stays overloaded."""
    tree = _tree("retry-storm-backoff.yaml")
    del tree["workload"]["retry"]["budget"]
    alone = _last_third(simengine.simulate(parse_document(tree)))
    assert alone["goodput"] < 0.05
    assert alone["attempts"] == pytest.approx(4.0, rel=0.02)


def test_load_shedding_with_a_short_queue_ends_the_storm_without_backoff():
    """queue_limit 100 on 4 cores: at most ~0.25 s of wait, under the 1 s timeout,
    so admitted attempts succeed and refused ones cost no work."""
    tree = _tree("retry-storm.yaml")
    tree["components"]["web"]["queue_limit"] = 100
    shed = _last_third(simengine.simulate(parse_document(tree)))
    assert shed["goodput"] == pytest.approx(1.0, abs=0.01)
    assert shed["timeouts"] == 0


def test_retry_runs_are_deterministic():
    tree = _tree("retry-storm-backoff.yaml")
    tree["simulation"]["duration_s"] = 40
    doc = parse_document(tree)
    one = json.dumps(simengine.simulate(doc), sort_keys=True)
    assert one == json.dumps(simengine.simulate(doc), sort_keys=True)
    other = copy.deepcopy(tree)
    other["simulation"]["seed"] = 2
    assert one != json.dumps(simengine.simulate(parse_document(other)), sort_keys=True)


def _mm1k_doc(retry, **workload):
    """M/M/1/3 (one core, 10 ms, queue_limit 2) at 60 req/s: about 10% refused."""
    return document(
        workload={"target": "web", "rps": 60, "retry": retry, **workload},
        components={
            "web": {"type": "service", "work_ms": {"mean": 10}, "queue_limit": 2}
        },
        duration_s=3000,
        warmup_s=20,
        seed=5,
        snapshot_s=100,
    )


def _measured(doc) -> dict[str, float]:
    rep = simengine.simulate(doc)
    req = rep["requests"]
    return {
        "attempts": req["attempts"] / req["offered"],
        "gave_up": req["gave_up"] / req["offered"],
        "utilization": rep["components"]["web"]["utilization"],
    }


def test_estimate_of_refusals_retried_after_a_backoff_is_the_mmck_fixed_point():
    """Re-sends after a long jittered backoff arrive independently of the full
    queue that refused them: p = blocking(lambda (1 + p + p^2 + p^3))."""
    doc = _mm1k_doc({"max": 3, "backoff_ms": 1000})
    est = estimate(doc)
    retry = est["retry"]
    p = retry["failure_probability"]
    assert p == pytest.approx(0.1321, abs=1e-4)
    assert retry["attempts_per_request"] == pytest.approx(1 + p + p**2 + p**3)
    assert retry["gave_up_ratio"] == pytest.approx(p**4, rel=0.01)
    assert est["rps"] == 60  # the clients' rate; the station carries the attempts
    assert est["components"]["web"]["offered_rps"] == pytest.approx(
        60 * (1 + p + p * p + p**3), abs=1e-3
    )
    run = _measured(doc)
    assert run["attempts"] == pytest.approx(retry["attempts_per_request"], rel=0.01)
    assert run["utilization"] == pytest.approx(
        est["components"]["web"]["utilization"], abs=0.01
    )


def test_estimate_of_instant_resends_into_a_full_queue_refuses_them_again():
    """backoff_ms 0: the re-send finds the same full queue, so A = 1 + max x p and
    every refused request gives up (p of them), with no extra load."""
    doc = _mm1k_doc({"max": 3, "backoff_ms": 0})
    retry = estimate(doc)["retry"]
    p = retry["failure_probability"]
    assert p == pytest.approx(0.0993, abs=1e-4)  # M/M/1/3 at rho 0.6
    assert retry["attempts_per_request"] == pytest.approx(1 + 3 * p)
    run = _measured(doc)
    assert run["attempts"] == pytest.approx(1 + 3 * p, rel=0.01)
    assert run["gave_up"] == pytest.approx(p, rel=0.03)


def test_estimate_of_a_retry_budget_caps_the_attempts():
    doc = _mm1k_doc({"max": 3, "backoff_ms": 1000, "budget": 0.05})
    retry = estimate(doc)["retry"]
    assert retry["attempts_per_request"] == pytest.approx(1.05)
    run = _measured(doc)
    assert run["attempts"] == pytest.approx(1.05, abs=0.002)
    assert run["gave_up"] == pytest.approx(retry["gave_up_ratio"], rel=0.05)


def test_estimate_without_any_failure_is_the_estimate_without_retry():
    plain = _service_doc(None)
    retried = _service_doc({"max": 3})
    est = estimate(retried)
    assert est.pop("retry")["attempts_per_request"] == 1.0
    assert est == estimate(plain)


@pytest.mark.parametrize(
    ("timeout_ms", "faults", "reason"),
    [
        (100, None, "response-time tail"),
        (None, [{"at_s": 5, "component": "web"}], "faults"),
    ],
)
def test_estimate_says_when_it_cannot_give_retries(timeout_ms, faults, reason):
    doc = _service_doc({"max": 3}, timeout_ms=timeout_ms, faults=faults)
    est = estimate(doc)
    assert est["retry"]["available"] is False
    assert reason in est["retry"]["reason"]
    notes = [
        n for n in est["notes"] if n.startswith("Estimate not available with retries")
    ]
    assert len(notes) == 1 and "run it" in notes[0]
    assert "attempts per request" not in format_estimate(est)


def test_a_request_that_succeeds_on_its_re_send_counts_once_with_its_whole_latency():
    """The server is down for the first second: those requests fail at once (after
    the 5 ms hop), wait the 2.05 s backoff, are re-sent (5 ms hop again) and take
    10 ms of work between two arrivals: 2,070 ms end to end, counted once as
    completed; the others 15 ms."""
    doc = document(
        workload={
            "target": "web",
            "rps": 10,
            "arrivals": "constant",
            "retry": {"max": 1, "backoff_ms": 2050, "jitter": False},
        },
        components={"web": {"type": "service", "work_ms": 10}},
        network={"hop_ms": 5},
        faults=[{"at_s": 0, "component": "web", "for_s": 1}],
        duration_s=10,
        warmup_s=0,
    )
    rep = simengine.simulate(doc)
    req = rep["requests"]
    assert req["retries"] == 9  # the arrivals at 0.1 .. 0.9 s (1.0 s is in time)
    assert req["completed"] == req["offered"] - req["in_flight"]
    assert req["gave_up"] == 0
    assert rep["latency_ms"]["max"] == pytest.approx(2070.0)
    assert rep["latency_ms"]["p50"] == pytest.approx(15.0, rel=0.01)
