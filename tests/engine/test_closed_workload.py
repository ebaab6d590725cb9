"""Closed workloads (``workload.users``): users who send, wait, think and send again.

Against queueing theory: a closed network of a single-core web service and a 2-core
database with exponential work and a think time of 100 ms is a product-form
network, solved exactly by mean value analysis (the reference below is this test's
own, the load-dependent form with full marginal probabilities, not the engine's);
N = 1 has X = 1 / (S + Z) exactly; many users reach the asymptotic bound 1 / D_max;
Little's law holds for the users. The estimate equals the reference MVA, and a hand
computed case.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from helpers_engine import document, example_document

import simengine
from simengine.analytic import estimate
from simengine.analytic.closed import MvaStation, mva, schweitzer_mva, solve

WEB_MS, DB_MS, DB_CORES, THINK_MS = 5.0, 8.0, 2, 100.0
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def reference_mva(
    stations: list[tuple[float, int]], users: int, think: float
) -> tuple[float, float]:
    """(throughput, response time) of a closed network of ``stations`` (demand,
    servers) and a think time, by load-dependent MVA with the full marginal
    probabilities p_k(j | n), j = 0..n, and rate multipliers min(j, c)."""
    p = [[1.0] for _ in stations]  # p[k][j] at n - 1
    x = r = 0.0
    for n in range(1, users + 1):
        res = []
        for (d, c), pk in zip(stations, p, strict=True):
            res.append(sum(j / min(j, c) * d * pk[j - 1] for j in range(1, n + 1)))
        r = sum(res)
        x = n / (think + r)
        new = []
        for (d, c), pk in zip(stations, p, strict=True):
            q = [0.0] * (n + 1)
            for j in range(1, n + 1):
                q[j] = x * d / min(j, c) * pk[j - 1]
            q[0] = 1.0 - sum(q[1:])
            new.append(q)
        p = new
    return x, r


def closed_doc(
    users: int,
    *,
    duration_s: float,
    seed: int = 1,
    workload: dict[str, Any] | None = None,
) -> simengine.Document:
    return document(
        workload={
            "target": "web",
            "users": {"count": users, "think_ms": {"mean": THINK_MS}},
            "read_ratio": 1.0,
            **(workload or {}),
        },
        components={
            "web": {
                "type": "service",
                "cores": 1,
                "work_ms": {"mean": WEB_MS},
                "calls": ["db"],
            },
            "db": {
                "type": "database",
                "primary": {
                    "cores": DB_CORES,
                    "read_ms": {"mean": DB_MS},
                    "write_ms": {"mean": DB_MS},
                },
            },
        },
        duration_s=duration_s,
        warmup_s=20,
        seed=seed,
        snapshot_s=duration_s / 10,
    )


def theory(users: int) -> tuple[float, float]:
    """(throughput req/s, response ms) of the test network."""
    x, r = reference_mva(
        [(WEB_MS / 1000, 1), (DB_MS / 1000, DB_CORES)], users, THINK_MS / 1000
    )
    return x, r * 1000.0


def run_for(users: int, cycles: int = 40_000, **kw: Any) -> dict[str, Any]:
    x, _ = theory(users)
    return simengine.simulate(closed_doc(users, duration_s=cycles / x, **kw))


@pytest.mark.parametrize("users", [1, 5, 20, 50])
def test_closed_network_matches_exact_mva(users: int) -> None:
    x, r = theory(users)
    report = run_for(users)
    assert report["throughput_rps"] == pytest.approx(x, rel=0.02)
    assert report["latency_ms"]["mean"] == pytest.approx(r, rel=0.03)
    util = report["components"]["web"]["utilization"]
    assert util == pytest.approx(x * WEB_MS / 1000, abs=0.01)


def test_the_reference_values_the_tests_compare_with() -> None:
    # pinned, so a change in the reference is seen: N = 1, 5, 20, 50
    got = [tuple(round(v, 2) for v in theory(n)) for n in (1, 5, 20, 50)]
    assert got == [(8.85, 13.0), (43.81, 14.13), (156.2, 28.04), (199.91, 150.12)]


def test_one_user_cycles_at_one_over_work_plus_think() -> None:
    x_exact = 1.0 / ((WEB_MS + DB_MS + THINK_MS) / 1000.0)  # no one to wait for
    assert theory(1)[0] == pytest.approx(x_exact, rel=1e-12)
    report = run_for(1)
    assert report["throughput_rps"] == pytest.approx(x_exact, rel=0.02)
    assert report["latency_ms"]["mean"] == pytest.approx(WEB_MS + DB_MS, rel=0.02)
    assert report["components"]["web"]["queue_mean"] == 0.0


def test_many_users_reach_the_asymptotic_bound() -> None:
    bound = 1000.0 / max(WEB_MS, DB_MS / DB_CORES)  # 1 / D_max: the web core
    report = run_for(200)
    assert report["throughput_rps"] == pytest.approx(bound, rel=0.02)
    assert report["throughput_rps"] <= bound * 1.01
    assert report["components"]["web"]["utilization"] > 0.98
    # R >= N / X_max - Z: the users queue for the saturated core
    assert report["latency_ms"]["mean"] >= 200 / bound * 1000 - THINK_MS - 30


@pytest.mark.parametrize("users", [5, 50])
def test_users_obey_littles_law(users: int) -> None:
    report = run_for(users, cycles=20_000)
    closed = report["closed"]
    assert closed["users"] == pytest.approx(users, rel=1e-9)
    n = closed["throughput_rps"] * closed["cycle_ms"]["mean"] / 1000.0
    assert n == pytest.approx(users, rel=0.01)
    # a cycle is a response and a think time
    cycle = report["latency_ms"]["mean"] + closed["think_ms_mean"]
    assert closed["cycle_ms"]["mean"] == pytest.approx(cycle, rel=0.005)
    assert closed["think_ms_mean"] == pytest.approx(THINK_MS, rel=0.02)


# --- the estimate ---------------------------------------------------------------------


@pytest.mark.parametrize("users", [1, 5, 20, 50, 200])
def test_estimate_equals_the_reference_mva(users: int) -> None:
    est = estimate(closed_doc(users, duration_s=10))
    x, r = theory(users)
    assert est["closed"]["method"] == "exact mean value analysis"
    # the engine's MVA, unrounded, and the estimate's figures (rounded to 4 and 3
    # decimals)
    exact, _ = solve(closed_doc(users, duration_s=10))
    assert exact.throughput == pytest.approx(x, rel=1e-9)
    assert exact.response_s * 1000 == pytest.approx(r, rel=1e-9)
    assert est["rps"] == pytest.approx(x, abs=1e-4)
    assert est["closed"]["throughput_rps"] == pytest.approx(x, abs=1e-4)
    assert est["latency_ms"]["mean"] == pytest.approx(r, abs=1e-3)
    assert est["closed"]["cycle_ms"]["mean"] == pytest.approx(r + THINK_MS, abs=1e-4)
    web = est["components"]["web"]
    assert web["utilization"] == pytest.approx(x * WEB_MS / 1000, abs=1e-4)
    db = est["components"]["db"]
    assert db["utilization"] == pytest.approx(x * DB_MS / 1000 / DB_CORES, abs=1e-4)
    assert est["closed"]["bound_rps"] == pytest.approx(200.0)


def test_mva_by_hand_small_cases() -> None:
    # one single-core station, D = 1 s, Z = 1 s, two users:
    # n = 1: R = 1, X = 1/2, Q = 1/2; n = 2: R = 1 x (1 + 1/2) = 1.5, X = 2/2.5
    one = mva([MvaStation("s", "s", servers=1, copies=1, demand_s=1.0)], 2, 1.0)
    assert one.throughput == pytest.approx(0.8, rel=1e-12)
    assert one.response_s == pytest.approx(1.5, rel=1e-12)
    # two cores, two users: nobody ever waits, R = D
    two = mva([MvaStation("s", "s", servers=2, copies=1, demand_s=1.0)], 2, 1.0)
    assert two.throughput == pytest.approx(1.0, rel=1e-12)
    assert two.response_s == pytest.approx(1.0, rel=1e-12)
    # two identical single-core copies, each seeing half the visits: as two
    # stations of demand D/2
    split = mva([MvaStation("s", "s", servers=1, copies=2, demand_s=0.5)], 3, 1.0)
    pair = mva(
        [
            MvaStation("a", "a", servers=1, copies=1, demand_s=0.5),
            MvaStation("b", "b", servers=1, copies=1, demand_s=0.5),
        ],
        3,
        1.0,
    )
    assert split.throughput == pytest.approx(pair.throughput, rel=1e-12)


@pytest.mark.parametrize(("servers", "users"), [(3, 10), (4, 40)])
def test_multi_core_mva_matches_the_machine_repairman(servers: int, users: int) -> None:
    """M/M/c//N (N machines, mean up time Z, c repairmen of mean time S): the
    stationary distribution in closed form."""
    s, z = 0.05, 0.4
    weights = []
    for n in range(users + 1):
        w = math.factorial(users) / math.factorial(users - n) * (s / z) ** n
        w /= (
            math.factorial(n)
            if n <= servers
            else (math.factorial(servers) * servers ** (n - servers))
        )
        weights.append(w)
    total = sum(weights)
    x = sum(w / total * min(n, servers) / s for n, w in enumerate(weights))
    got = mva([MvaStation("s", "s", servers, 1, s)], users, z)
    assert got.throughput == pytest.approx(x, rel=1e-9)
    assert got.response_s == pytest.approx(users / x - z, rel=1e-9)


def test_estimate_of_the_login_example_agrees_with_a_run_without_its_phases() -> None:
    doc = example_document(
        EXAMPLES / "login-flow-closed.yaml", duration_s=300, warmup_s=30
    )
    tree = doc.model_dump(mode="json", exclude_none=True)
    tree["workload"]["phases"] = []
    doc = simengine.parse_document(tree)
    est = estimate(doc)
    report = simengine.simulate(doc)
    for cid in ("web", "auth-db"):
        assert est["components"][cid]["utilization"] == pytest.approx(
            report["components"][cid]["utilization"], abs=0.03
        )
    assert est["rps"] == pytest.approx(report["throughput_rps"], rel=0.03)
    assert est["latency_ms"]["mean"] == pytest.approx(
        report["latency_ms"]["mean"], rel=0.15
    )


def test_estimate_says_the_phases_are_not_estimated() -> None:
    doc = simengine.parse_document((EXAMPLES / "login-flow-closed.yaml").read_text())
    est = estimate(doc)
    assert any("estimate not available for the phases" in n for n in est["notes"])
    text = simengine.analytic.format_estimate(est)
    assert "closed: 400 users" in text


# --- behaviour ------------------------------------------------------------------------


def test_phases_add_users_and_surplus_users_stop_after_their_cycle() -> None:
    doc = closed_doc(
        10,
        duration_s=150,
        workload={"phases": [{"at_s": 70, "users": 30}, {"at_s": 120, "users": 5}]},
    )
    report = simengine.simulate(doc)
    # measured 20..170 s: 10 users for 50 s, 30 for 50 s, 5 for 50 s
    assert report["closed"]["users"] == pytest.approx((10 + 30 + 5) / 3, rel=0.01)
    rates = {w["t_s"]: w["rps"] for w in report["timeline"]}
    assert rates[65.0] == pytest.approx(theory(10)[0], rel=0.1)
    assert rates[110.0] == pytest.approx(theory(30)[0], rel=0.1)
    assert rates[170.0] == pytest.approx(theory(5)[0], rel=0.1)
    events = [e for e in report["event_log"] if e["kind"] == "phase_changed"]
    assert [e["users"] for e in events] == [30, 5]


def test_a_user_who_times_out_thinks_and_sends_again() -> None:
    doc = document(
        workload={
            "target": "web",
            "users": {"count": 10, "think_ms": 50},
            "timeout_ms": 100,
        },
        components={"web": {"type": "service", "cores": 1, "work_ms": 400}},
        duration_s=60,
        warmup_s=5,
    )
    report = simengine.simulate(doc)
    req = report["requests"]
    # every request waits at least 400 ms: each one times out at 100 ms, and the
    # user sends the next 50 ms later: 10 users / 150 ms
    assert req["completed"] == 0
    assert req["timeouts"] == pytest.approx(req["offered"], abs=10)
    assert report["closed"]["throughput_rps"] == pytest.approx(10 / 0.15, rel=0.01)
    assert report["closed"]["cycle_ms"]["mean"] == pytest.approx(150.0, rel=1e-6)


def test_same_seed_same_report_and_another_seed_differs() -> None:
    doc = closed_doc(20, duration_s=30, workload={"read_ratio": 0.7, "keys": {}})
    a = json.dumps(simengine.run_replication(doc, seed=3), sort_keys=True)
    b = json.dumps(simengine.run_replication(doc, seed=3), sort_keys=True)
    c = json.dumps(simengine.run_replication(doc, seed=4), sort_keys=True)
    assert a == b
    assert a != c


def test_replications_combine_the_closed_key() -> None:
    doc = document(
        workload={"target": "web", "users": {"count": 5, "think_ms": 100}},
        components={"web": {"type": "service", "work_ms": {"mean": 5}}},
        duration_s=20,
        warmup_s=2,
        replications=3,
    )
    report = simengine.simulate(doc)
    assert report["closed"]["users"] == pytest.approx(5.0)
    assert "closed.throughput_rps" in report["ci95"]


def test_an_open_workload_has_no_closed_key() -> None:
    doc = document(
        workload={"target": "web", "rps": 10},
        components={"web": {"type": "service"}},
        duration_s=5,
        warmup_s=0,
    )
    assert "closed" not in simengine.simulate(doc)
    assert "closed" not in estimate(doc)


# --- bad values -----------------------------------------------------------------------

USERS = {"count": 5, "think_ms": 100}


@pytest.mark.parametrize(
    ("workload", "path", "message"),
    [
        ({"users": {"count": 0, "think_ms": 100}}, "workload.users.count", ">= 1"),
        ({"users": {"count": 2.5, "think_ms": 100}}, "workload.users.count", "integer"),
        ({"users": {"count": 5}}, "workload.users.think_ms", "is required"),
        ({"users": {"think_ms": 1}}, "workload.users.count", "is required"),
        (
            {"users": {"count": 5, "think_ms": -1}},
            "workload.users.think_ms",
            ">= 0",
        ),
        (
            {"users": {"count": 5, "think_ms": {"dist": "erlang", "mean": 5}}},
            "workload.users.think_ms.k",
            "erlang needs k",
        ),
        ({"users": {**USERS, "pace": 1}}, "workload.users.pace", "unknown field"),
        ({"users": USERS, "rps": 5}, "workload.users", "not both"),
        ({}, "workload.rps", "is required"),
        ({"users": USERS, "arrivals": "bursty"}, "workload.arrivals", "open workload"),
        (
            {"users": USERS, "arrivals": {"dist": "erlang", "k": 2}},
            "workload.arrivals",
            "open workload",
        ),
        ({"users": USERS, "bursty": {"factor": 2}}, "workload.bursty", "open"),
        (
            {"users": USERS, "phases": [{"at_s": 5, "rps": 10}]},
            "workload.phases[0].rps",
            "gives users, not rps",
        ),
        (
            {"users": USERS, "phases": [{"at_s": 5}]},
            "workload.phases[0].users",
            "is required",
        ),
        (
            {"users": USERS, "phases": [{"at_s": 5, "users": -1}]},
            "workload.phases[0].users",
            ">= 0",
        ),
        (
            {"rps": 5, "phases": [{"at_s": 5, "users": 10}]},
            "workload.phases[0].users",
            "only a closed workload",
        ),
        ({"rps": 5, "phases": [{"at_s": 5}]}, "workload.phases[0].rps", "is required"),
        (
            {"users": {"count": 2_000_000, "think_ms": 1000}},
            "workload.users.count",
            "Limits.max_users",
        ),
    ],
)
def test_a_bad_closed_workload_names_its_field(
    workload: dict[str, Any], path: str, message: str
) -> None:
    tree = {
        "scaleboard": 1,
        "workload": {"target": "web", **workload},
        "components": {"web": {"type": "service"}},
    }
    with pytest.raises(simengine.DocumentError) as exc:
        simengine.parse_document(tree)
    assert any(e.path == path and message in e.message for e in exc.value.errors), [
        (e.path, e.message) for e in exc.value.errors
    ]


def test_a_spike_injection_is_refused_for_a_closed_workload() -> None:
    from simengine.whatif import injection_parse

    doc = closed_doc(5, duration_s=10)
    with pytest.raises(simengine.DocumentError) as exc:
        injection_parse(doc, {"action": "spike", "factor": 2, "for_s": 5})
    assert [e.path for e in exc.value.errors] == ["injection.action"]


def test_too_many_users_for_the_exact_mva_are_estimated_approximately_and_say_so() -> (
    None
):
    est = estimate(closed_doc(200_000, duration_s=1))
    closed = est["closed"]
    assert closed["method"].startswith("approximate mean value analysis")
    # exponential work: only the database's connections (fewer than the users)
    assert [a.split(" at ")[-1] for a in closed["approximate"]] == [
        "db (refusals are not modelled)"
    ]
    # far past saturation: the bound 1 / D_max, R = N / X - Z
    assert est["rps"] == pytest.approx(200.0, rel=1e-6)
    assert closed["response_ms"] == pytest.approx(200_000 / 200 * 1000 - 100, rel=1e-4)
    # and near the exact one where both run (N = 50: 196.4 against 199.9 req/s)
    stations = [
        MvaStation("web", "web", 1, 1, WEB_MS / 1000),
        MvaStation("db", "db", DB_CORES, 1, DB_MS / 1000),
    ]
    approx = schweitzer_mva(stations, 50, THINK_MS / 1000)
    assert approx.throughput == pytest.approx(theory(50)[0], rel=0.03)


def test_a_station_of_very_many_cores_is_labelled_approximate() -> None:
    got = mva([MvaStation("big.instance", "big", 300, 1, 1.0)], 20, 1.0)
    assert got.approximate == ["big"]
    doc = document(
        workload={"target": "big", "users": {"count": 20, "think_ms": 1000}},
        components={
            "big": {"type": "service", "cores": 300, "work_ms": {"mean": 1000}}
        },
        duration_s=1,
        warmup_s=0,
    )
    method = estimate(doc)["closed"]["method"]
    assert "Seidmann's approximation (approximate) for the stations of big" in method


def test_retries_with_closed_users_are_a_clear_error_naming_the_field():
    from simengine import DocumentError, parse_document

    tree = {
        "scaleboard": 1,
        "name": "closed with retry",
        "workload": {
            "target": "web",
            "users": {"count": 5, "think_ms": 100},
            "retry": {"max": 2},
        },
        "components": {"web": {"type": "service"}},
    }
    with pytest.raises(DocumentError) as caught:
        parse_document(tree)
    assert "workload.retry" in str(caught.value)


def test_a_queues_consumers_are_off_a_closed_users_response_path():
    # The users wait for the publish only: the slow consumer (pay, 1 core at 12 ms,
    # 83 msg/s at most) does not bound their throughput; web (1 core, 5 ms) does.
    from simengine import estimate, parse_document, simulate

    tree = {
        "scaleboard": 1,
        "name": "closed users publishing",
        "simulation": {"duration_s": 200, "warmup_s": 10, "seed": 5},
        "workload": {
            "target": "web",
            "users": {"count": 10, "think_ms": {"dist": "exponential", "mean": 100}},
        },
        "components": {
            "web": {
                "type": "service",
                "work_ms": {"dist": "exponential", "mean": 5},
                "calls": ["q"],
            },
            "q": {"type": "queue", "consumers": "pay", "concurrency": 1},
            "pay": {"type": "service", "work_ms": {"dist": "exponential", "mean": 12}},
        },
    }
    doc = parse_document(tree)
    run = simulate(doc)
    est = estimate(doc)
    # above the consumer's 83/s: only possible if pay is off the path
    assert run["throughput_rps"] > 85
    assert est["rps"] == pytest.approx(run["throughput_rps"], rel=0.03)
    assert est["latency_ms"]["mean"] == pytest.approx(
        run["latency_ms"]["mean"], rel=0.05
    )
