"""Calls in their mapping form: probabilities (Jackson's visit ratios) and circuit
breakers (open on failures, fail fast, half-open, close), their validation, the
estimate, and that the plain form is untouched."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simengine
from simengine.analytic import estimate
from tests.engine.queueing_theory import mmc_mean_response


def _doc(
    components: dict[str, Any],
    *,
    rps: float,
    duration_s: float,
    seed: int = 1,
    faults: list[dict[str, Any]] | None = None,
    **workload: Any,
) -> simengine.Document:
    tree: dict[str, Any] = {
        "scaleboard": 1,
        "simulation": {"duration_s": duration_s, "seed": seed},
        "workload": {"target": "web", "rps": rps, **workload},
        "components": components,
    }
    if faults:
        tree["faults"] = faults
    return simengine.parse_document(tree)


def _fast(calls: list[Any], **extra: Any) -> dict[str, Any]:
    """A caller that is never the bottleneck (its own work is 0.1 ms)."""
    return {"type": "service", "cores": 16, "work_ms": 0.1, "calls": calls, **extra}


# --- probabilities: Jackson's visit ratios --------------------------------------------


def test_a_call_with_a_probability_carries_that_share_of_the_callers_requests():
    doc = _doc(
        {
            "web": _fast([{"to": "search", "probability": 0.3}]),
            "search": {"type": "service", "cores": 8, "work_ms": 1},
        },
        rps=400,
        duration_s=200,
    )
    report = simengine.simulate(doc)
    web = report["components"]["web"]
    search = report["components"]["search"]
    assert search["throughput_rps"] == pytest.approx(400 * 0.3, rel=0.02)
    assert search["throughput_rps"] / web["throughput_rps"] == pytest.approx(
        0.3, rel=0.02
    )
    share = web["call_shares"]["search"]
    assert share["probability"] == 0.3
    assert share["offered"] == web["throughput_rps"] * 200
    assert share["share"] == pytest.approx(0.3, rel=0.02)
    assert share["made"] == pytest.approx(search["throughput_rps"] * 200, abs=10)


def _tree_components() -> dict[str, Any]:
    # web -> a (0.5) -> b (0.4); web -> c (0.2) -> b (always): b sees 0.4 of web's
    return {
        "web": _fast(
            [{"to": "a", "probability": 0.5}, {"to": "c", "probability": 0.2}]
        ),
        "a": _fast([{"to": "b", "probability": 0.4}]),
        "c": _fast(["b"]),
        "b": {"type": "service", "cores": 8, "work_ms": 1},
    }


def test_a_two_level_tree_of_probabilities_follows_the_visit_ratios():
    report = simengine.simulate(_doc(_tree_components(), rps=500, duration_s=120))
    comps = report["components"]
    visits = {"web": 1.0, "a": 0.5, "c": 0.2, "b": 0.5 * 0.4 + 0.2}
    for cid, ratio in visits.items():
        assert comps[cid]["throughput_rps"] == pytest.approx(500 * ratio, rel=0.02), cid


def test_the_estimate_uses_the_visit_ratios_of_a_tree_of_probabilities():
    est = estimate(_doc(_tree_components(), rps=500, duration_s=120))
    offered = {cid: c["offered_rps"] for cid, c in est["components"].items()}
    assert offered == pytest.approx({"web": 500, "a": 250, "c": 100, "b": 200})


def _thinned() -> simengine.Document:
    # search: M/M/2 with mu = 100/s per core at lambda * p = 400 * 0.3 = 120/s (rho 0.6)
    return _doc(
        {
            "web": _fast([{"to": "search", "probability": 0.3}]),
            "search": {
                "type": "service",
                "cores": 2,
                "work_ms": {"dist": "exponential", "mean": 10},
            },
        },
        rps=400,
        duration_s=600,
        seed=7,
    )


def test_the_callee_of_a_thinned_call_is_an_mmc_queue_at_the_thinned_rate():
    report = simengine.simulate(_thinned())
    search = report["components"]["search"]
    assert search["utilization"] == pytest.approx(0.6, rel=0.02)
    theory_ms = 1000 * mmc_mean_response(120, 100, 2)  # 15.625 ms
    assert search["latency_ms"]["mean"] == pytest.approx(theory_ms, rel=0.03)


def test_the_estimate_of_a_thinned_call_is_the_mmc_queue_at_the_thinned_rate():
    est = estimate(_thinned())
    search = est["components"]["search"]
    assert search["offered_rps"] == pytest.approx(120)
    assert search["utilization"] == pytest.approx(0.6)
    theory_ms = 1000 * mmc_mean_response(120, 100, 2)
    assert search["latency_ms"]["mean"] == pytest.approx(theory_ms, rel=1e-3)
    # the caller waits for the callee on 30% of its requests
    assert est["latency_ms"]["mean"] == pytest.approx(0.1 + 0.3 * theory_ms, rel=1e-3)


@pytest.mark.parametrize(
    ("call", "expected_ms"),
    [
        # web's 1 ms, then on half the requests 70 ms to the other region and 2 ms
        ({"to": "search", "probability": 0.5}, 1 + 0.5 * (70 + 2)),
        ({"to": "search", "breaker": {"error_rate": 0.5}}, 1 + 70 + 2),
    ],
)
def test_a_mapping_call_to_another_region_pays_the_cross_region_delay(
    call: dict[str, Any], expected_ms: float
):
    tree = {
        "scaleboard": 1,
        "simulation": {"duration_s": 60, "seed": 2},
        "workload": {"target": "web", "rps": 200},
        "network": {"hop_ms": 0, "cross_region_ms": 70},
        "components": {
            "web": {**_fast([call]), "work_ms": 1, "region": "us"},
            "search": {"type": "service", "cores": 16, "work_ms": 2, "region": "eu"},
        },
    }
    doc = simengine.parse_document(tree)
    report = simengine.simulate(doc)
    assert report["latency_ms"]["mean"] == pytest.approx(expected_ms, rel=0.03)
    assert estimate(doc)["latency_ms"]["mean"] == pytest.approx(expected_ms)


def test_a_mapping_without_a_probability_or_breaker_runs_as_the_plain_id():
    def report(call: Any) -> str:
        doc = _doc(
            {"web": {"type": "service", "calls": [call]}, "db": {"type": "database"}},
            rps=50,
            duration_s=20,
        )
        return json.dumps(simengine.simulate(doc), sort_keys=True)

    plain = report("db")
    assert report({"to": "db"}) == plain
    assert report({"to": "db", "probability": 1.0}) == plain


def test_probabilistic_calls_are_deterministic_and_change_with_the_seed():
    def run(seed: int) -> str:
        doc = _doc(_tree_components(), rps=200, duration_s=20, seed=seed)
        return json.dumps(simengine.simulate(doc), sort_keys=True)

    assert run(3) == run(3)
    assert run(3) != run(4)


# --- circuit breakers -----------------------------------------------------------------


def _breaker_doc(
    *, fault: bool, breaker: bool = True, seed: int = 3
) -> simengine.Document:
    # search is down from 50 s to 90 s; the breaker: 50% over 10 s, open 30 s
    call: dict[str, Any] = {"to": "search"}
    if breaker:
        call["breaker"] = {"error_rate": 0.5, "window_s": 10, "open_s": 30}
    return _doc(
        {
            "web": {"type": "service", "cores": 4, "work_ms": 5, "calls": [call]},
            "search": {"type": "service", "cores": 4, "work_ms": 20},
        },
        rps=50,
        duration_s=200,
        seed=seed,
        faults=[{"at_s": 50, "component": "search", "for_s": 40}] if fault else None,
    )


def test_a_breaker_opens_on_a_dead_callee_fails_fast_and_closes_once_it_is_back():
    report = simengine.simulate(_breaker_doc(fault=True))
    events = [
        (e["kind"], e["t_s"])
        for e in report["event_log"]
        if e["kind"].startswith("breaker")
    ]
    kinds = [k for k, _ in events]
    # opened by the failures, re-opened by a failed trial (search still down at
    # 50 + 30 s), closed by the trial after the next 30 s (search back at 90 s)
    assert kinds == ["breaker_opened", "breaker_opened", "breaker_closed"]
    t_open, t_reopen, t_close = (t for _, t in events)
    assert 50 < t_open <= 50 + 10  # within window_s of the failure
    assert t_reopen == pytest.approx(t_open + 30, abs=1)  # the first trial, open_s on
    assert t_close > 90  # search is back
    assert t_close == pytest.approx(t_reopen + 30, abs=1)
    assert all(e["to"] == "search" for e in report["event_log"] if "to" in e)

    b = report["components"]["web"]["breakers"]["search"]
    assert b["opened"] == 2 and b["closed"] == 1
    assert b["open_s"] == pytest.approx(t_close - t_open)
    # while open every call failed fast: about rps x time open, minus the trials
    assert b["rejected"] == pytest.approx(50 * b["open_s"], rel=0.05)
    errors = report["requests"]["errors"]
    assert errors == b["rejected"] + b["failed"]

    # Fail fast: from 90 s (search up again) to the close, search gets only the
    # trial call; without the breaker it takes all 50 req/s from 90 s on.
    def search_rps(rep: dict[str, Any], t0: float, t1: float) -> float:
        rows = [w for w in rep["timeline"] if t0 < w["t_s"] <= t1]
        return sum(w["components"]["search"]["throughput_rps"] for w in rows) / len(
            rows
        )

    assert search_rps(report, 92, t_close - 1) < 0.2
    assert search_rps(report, t_close + 2, 200) == pytest.approx(50, rel=0.1)
    plain = simengine.simulate(_breaker_doc(fault=True, breaker=False))
    assert search_rps(plain, 92, t_close - 1) == pytest.approx(50, rel=0.1)
    assert "breakers" not in plain["components"]["web"]


def test_a_breaker_on_a_healthy_callee_never_opens():
    report = simengine.simulate(_breaker_doc(fault=False))
    b = report["components"]["web"]["breakers"]["search"]
    assert b == {
        "opened": 0,
        "closed": 0,
        "rejected": 0,
        "open_s": 0.0,
        "calls": report["requests"]["completed"] + report["requests"]["in_flight"],
        "failed": 0,
    }
    assert not [e for e in report["event_log"] if e["kind"].startswith("breaker")]
    assert report["requests"]["errors"] == 0


def _overload(breaker: bool) -> simengine.Document:
    # search (M/M/1, 8 ms) is pushed to rho 1.2 from 60 s to 100 s: its queue grows
    # past the clients' 1 s timeout. Slow calls count as failures for the breaker.
    call: dict[str, Any] = {"to": "search"}
    if breaker:
        call["breaker"] = {"error_rate": 0.5, "window_s": 10, "open_s": 20}
    return _doc(
        {
            "web": {"type": "service", "cores": 8, "work_ms": 2, "calls": [call]},
            "search": {
                "type": "service",
                "work_ms": {"dist": "exponential", "mean": 8},
            },
        },
        rps=100,
        duration_s=240,
        seed=5,
        timeout_ms=1000,
        phases=[{"at_s": 60, "rps": 150}, {"at_s": 100, "rps": 100}],
    )


def test_a_breaker_turns_timeouts_at_a_slow_callee_into_fast_errors():
    unguarded = simengine.simulate(_overload(False))
    plain = unguarded["requests"]
    report = simengine.simulate(_overload(True))
    guarded = report["requests"]
    # the callee's queue drains while the breaker is open (160 -> 16 waiting on
    # average with seed 5), so the requests that complete wait less
    queue = report["components"]["search"]["queue_mean"]
    assert queue < unguarded["components"]["search"]["queue_mean"] / 3
    assert report["latency_ms"]["p95"] < unguarded["latency_ms"]["p95"] * 0.75
    b = report["components"]["web"]["breakers"]["search"]
    assert b["opened"] >= 1 and b["closed"] >= 1
    # without it, thousands of clients wait out their timeout; with it most of
    # them get an error at once and the callee's queue drains sooner
    assert plain["timeouts"] > 5000 and plain["errors"] == 0
    assert guarded["timeouts"] < plain["timeouts"] / 3
    assert guarded["errors"] == b["rejected"]
    assert guarded["completed"] > plain["completed"]
    first = next(e for e in report["event_log"] if e["kind"] == "breaker_opened")
    assert 60 < first["t_s"] < 100


def test_breakers_are_deterministic():
    def run() -> str:
        return json.dumps(simengine.simulate(_breaker_doc(fault=True)), sort_keys=True)

    assert run() == run()


def test_the_estimate_leaves_out_a_breaker_that_never_opens_and_says_so():
    est = estimate(_breaker_doc(fault=False))
    assert est["latency_ms"] is not None
    assert any(
        "Circuit breaker on web -> search left out" in n and "never opens" in n
        for n in est["notes"]
    )
    faulted = estimate(_breaker_doc(fault=True))
    assert any(
        "estimate not available with a circuit breaker" in n for n in faulted["notes"]
    )


def test_the_estimate_gives_no_latency_when_a_breaker_may_open():
    # search refuses most calls (M/M/1/1 at rho 2): the breaker would open
    doc = _doc(
        {
            "web": _fast([{"to": "search", "breaker": {"error_rate": 0.3}}]),
            "search": {"type": "service", "work_ms": 20, "queue_limit": 0},
        },
        rps=100,
        duration_s=20,
    )
    est = estimate(doc)
    assert est["latency_ms"] is None
    assert est["components"]["web"]["latency_ms"] is None
    assert any(
        n.startswith("Estimate not available with a circuit breaker on web -> search")
        for n in est["notes"]
    )


# --- validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "path"),
    [
        ({"to": "search", "probability": 0}, "components.web.calls[1].probability"),
        ({"to": "search", "probability": 1.5}, "components.web.calls[1].probability"),
        ({"to": "search", "probability": "0.3"}, "components.web.calls[1].probability"),
        (
            {"to": "search", "breaker": {"error_rate": 1.5}},
            "components.web.calls[1].breaker.error_rate",
        ),
        (
            {"to": "search", "breaker": {"error_rate": 0}},
            "components.web.calls[1].breaker.error_rate",
        ),
        (
            {"to": "search", "breaker": {"window_s": 0}},
            "components.web.calls[1].breaker.window_s",
        ),
        (
            {"to": "search", "breaker": {"open_s": -1}},
            "components.web.calls[1].breaker.open_s",
        ),
        (
            {"to": "search", "breaker": {"min_calls": 0}},
            "components.web.calls[1].breaker.min_calls",
        ),
        ({"to": "serch"}, "components.web.calls[1].to"),
        ({"probability": 0.5}, "components.web.calls[1].to"),
        ({"to": "search", "probabilty": 0.5}, "components.web.calls[1].probabilty"),
        (5, "components.web.calls[1]"),
    ],
)
def test_a_bad_call_is_an_error_naming_its_field(call: Any, path: str):
    with pytest.raises(simengine.DocumentError) as info:
        _doc(
            {
                "web": {"type": "service", "calls": ["db", call]},
                "search": {"type": "service"},
                "db": {"type": "database"},
            },
            rps=10,
            duration_s=10,
        )
    assert [e.path for e in info.value.errors] == [path], str(info.value)


def test_a_cycle_through_a_mapping_call_is_an_error():
    with pytest.raises(simengine.DocumentError) as info:
        _doc(
            {
                "web": {
                    "type": "service",
                    "calls": [{"to": "api", "probability": 0.5}],
                },
                "api": {"type": "service", "calls": ["web"]},
            },
            rps=10,
            duration_s=10,
        )
    assert "calls form a cycle" in str(info.value)


# --- fuzzing --------------------------------------------------------------------------

_probability = st.one_of(st.none(), st.floats(min_value=0.01, max_value=1.0))
_breaker = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {
            "error_rate": st.floats(min_value=0.05, max_value=1.0),
            "window_s": st.floats(min_value=0.5, max_value=20),
            "open_s": st.floats(min_value=0.5, max_value=20),
            "min_calls": st.integers(1, 50),
        }
    ),
)


@st.composite
def _call(draw: st.DrawFn, to: str) -> Any:
    p, b = draw(_probability), draw(_breaker)
    if p is None and b is None and draw(st.booleans()):
        return to
    call: dict[str, Any] = {"to": to}
    if p is not None:
        call["probability"] = p
    if b is not None:
        call["breaker"] = b
    return call


@settings(max_examples=25, deadline=None)
@given(
    web_calls=st.tuples(_call("a"), _call("db")),
    a_call=_call("db"),
    fault_at=st.floats(min_value=0, max_value=15),
    fault_for=st.floats(min_value=0.5, max_value=15),
    timeout=st.one_of(st.none(), st.floats(min_value=5, max_value=200)),
    seed=st.integers(0, 1000),
)
def test_any_mix_of_mapping_calls_runs_to_a_sane_repeatable_report(
    web_calls: tuple[Any, Any],
    a_call: Any,
    fault_at: float,
    fault_for: float,
    timeout: float | None,
    seed: int,
) -> None:
    extra = {"timeout_ms": timeout} if timeout else {}
    doc = _doc(
        {
            "web": {"type": "service", "cores": 4, "work_ms": 2, "calls": [*web_calls]},
            "a": {"type": "service", "cores": 2, "work_ms": 5, "calls": [a_call]},
            "db": {"type": "database"},
        },
        rps=200,
        duration_s=20,
        seed=seed,
        faults=[{"at_s": fault_at, "component": "a", "for_s": fault_for}],
        **extra,
    )
    report = simengine.simulate(doc)
    req = report["requests"]
    assert (
        sum(req[k] for k in ("completed", "errors", "timeouts", "rejected"))
        + req["in_flight"]
        == req["offered"]
    )
    web = report["components"]["web"]
    for share in web.get("call_shares", {}).values():
        assert 0 <= share["made"] <= share["offered"]
    for b in [*web.get("breakers", {}).values()]:
        assert b["opened"] >= b["closed"] >= 0
        assert 0 <= b["open_s"] <= 20 + 1e-9
        assert b["failed"] <= b["calls"]
    kinds = [e["kind"] for e in report["event_log"] if e["kind"].startswith("breaker")]
    assert all(k in simengine.EVENT_KINDS for k in kinds)
    assert json.dumps(simengine.simulate(doc), sort_keys=True) == json.dumps(
        report, sort_keys=True
    )


def test_the_run_summary_shows_call_shares_and_breakers():
    from simengine.cli import summary

    text = summary(simengine.simulate(_breaker_doc(fault=True)))
    assert "breaker on search: opened 2, closed 1, 2,915 calls failed fast" in text
    thinned = summary(
        simengine.simulate(_doc(_tree_components(), rps=50, duration_s=5))
    )
    assert "calls a on " in thinned and "(probability 0.5)" in thinned
    plain = summary(simengine.simulate(_breaker_doc(fault=True, breaker=False)))
    assert "breaker" not in plain and "probability" not in plain
