"""Processor sharing (``discipline: ps``) against theory, and its document field.

M/G/1-PS: the mean response is E[S] / (1 - rho) whatever the service distribution
(insensitivity); a job of size x takes x / (1 - rho) on average. With c cores each
of n requests gets min(1, c/n) of a core: the number present is M/M/c's birth-death
process for exponential work, so the mean response, the probability that an arrival
finds every core busy (Erlang C) and the blocking of a queue limit (M/M/c/K) are
M/M/c's, and insensitive too.
"""

from __future__ import annotations

import json

import pytest
from helpers_engine import rel, service_doc
from queueing_theory import erlang_c, mmc_mean_response, mmck_blocking, usl_capacity
from test_waiting import waiting_on

import simengine

H2 = {"dist": "hyperexponential", "mean": 10, "cv": 2}


def _svc(report: dict) -> dict:
    return report["components"]["svc"]


@pytest.mark.parametrize(
    ("work", "requests"),
    [
        ({"dist": "exponential", "mean": 10}, 1_000_000),
        (10, 1_000_000),  # constant
        (H2, 1_500_000),
    ],
    ids=["exponential", "constant", "hyperexponential"],
)
def test_mg1_ps_mean_response_is_insensitive_to_the_work_distribution(
    work, requests
) -> None:
    lam, es = 70.0, 0.010  # rho 0.7: E[S] / (1 - rho) = 33.3 ms for every work
    doc = service_doc(rps=lam, work_ms=work, requests=requests, discipline="ps")
    report = simengine.run_replication(doc, seed=4)
    expected_ms = 1000.0 * es / (1.0 - lam * es)
    assert rel(report["latency_ms"]["mean"], expected_ms) < 0.03
    assert abs(_svc(report)["utilization"] - 0.7) < 0.01
    # the same work under FCFS is far from it unless exponential (P-K: 21.7 ms
    # constant, 68.3 ms hyperexponential): the test can tell the two apart
    estimate = simengine.estimate(doc)
    assert estimate["latency_ms"]["mean"] == pytest.approx(expected_ms, rel=1e-3)
    assert estimate["components"]["svc"]["waiting"] == {"probability": 0.7}


def test_ps_mixed_read_and_write_work_keeps_the_insensitive_mean() -> None:
    # reads: exponential work of mean 5 ms; writes (30%): 20 ms exactly. Mean work
    # 9.5 ms at 70 rps: rho 0.665, E[S] / (1 - rho) = 28.4 ms (FCFS, by P-K with
    # this mixture's scv of 1.28, would be 30.1 ms)
    lam = 70.0
    work = {
        "read": {"dist": "exponential", "mean": 5},
        "write": 20,
    }
    doc = service_doc(
        rps=lam,
        work_ms=work,
        requests=1_000_000,
        discipline="ps",
        workload={"read_ratio": 0.7},
    )
    report = simengine.run_replication(doc, seed=8)
    es = 0.7 * 0.005 + 0.3 * 0.020
    rho = lam * es
    assert rel(report["latency_ms"]["mean"] / 1000.0, es / (1.0 - rho)) < 0.03
    # the write share of the busy time is its share of the work: 6.0 / 9.5
    assert _svc(report)["read_work_share"] == pytest.approx(3.5 / 9.5, abs=0.01)


def test_mmc_ps_matches_mmc_response_and_erlang_c_probability() -> None:
    lam, mu, c = 320.0, 100.0, 4  # 80% load
    doc = waiting_on(service_doc(rps=lam, cores=c, requests=1_000_000, discipline="ps"))
    report = simengine.run_replication(doc, seed=9)
    assert rel(report["latency_ms"]["mean"] / 1000, mmc_mean_response(lam, mu, c)) < (
        0.025
    )
    waiting = _svc(report)["waiting"]
    assert set(waiting) == {"probability"}  # nobody waits for a core under PS
    assert waiting["probability"] == pytest.approx(erlang_c(c, lam / mu), abs=0.015)
    assert abs(_svc(report)["utilization"] - 0.8) < 0.01
    est = simengine.estimate(doc)["components"]["svc"]
    assert est["latency_ms"]["mean"] / 1000 == pytest.approx(
        mmc_mean_response(lam, mu, c), rel=1e-3
    )
    assert est["waiting"]["probability"] == pytest.approx(erlang_c(c, 3.2), abs=1e-4)


def test_ps_with_constant_work_on_four_cores_keeps_the_mmc_mean() -> None:
    # insensitivity holds for min(1, c/n) sharing too (a symmetric queue)
    lam, mu, c = 320.0, 100.0, 4
    doc = service_doc(rps=lam, cores=c, work_ms=10, requests=1_000_000, discipline="ps")
    report = simengine.run_replication(doc, seed=10)
    assert rel(report["latency_ms"]["mean"] / 1000, mmc_mean_response(lam, mu, c)) < (
        0.03
    )


def test_ps_queue_limit_rejects_the_mmck_blocking_share() -> None:
    lam, mu, c, queue_limit = 380.0, 100.0, 4, 6  # K = 10 present at most
    doc = service_doc(
        rps=lam,
        cores=c,
        requests=300_000,
        queue_limit=queue_limit,
        discipline="ps",
    )
    report = simengine.run_replication(doc, seed=5)
    req = report["requests"]
    measured = req["rejected"] / req["offered"]
    expected = mmck_blocking(lam, mu, c, c + queue_limit)
    assert abs(measured - expected) < 0.01 + 0.05 * expected
    assert _svc(report)["rejected"] == req["rejected"]
    refused = simengine.estimate(doc)["components"]["svc"]["refused_ratio"]
    assert refused == pytest.approx(expected, abs=1e-3)


def test_ps_with_usl_delivers_the_usl_capacity_when_saturated() -> None:
    scaling = {"contention": 0.05, "coherency": 0.001}

    def throughput(discipline: str) -> float:
        doc = service_doc(
            rps=4000.0,
            cores=8,
            requests=120_000,
            queue_limit=50,
            scaling=scaling,
            discipline=discipline,
        )
        return simengine.run_replication(doc, seed=2)["throughput_rps"]

    expected = 100.0 * usl_capacity(8, 0.05, 0.001)  # 100 rps per core x C(8)
    ps = throughput("ps")
    assert rel(ps, expected) < 0.03
    assert rel(ps, throughput("fcfs")) < 0.03


def test_ps_little_law_and_window_statistics() -> None:
    doc = service_doc(rps=150.0, cores=2, requests=200_000, discipline="ps")
    report = simengine.run_replication(doc, seed=6)
    svc = _svc(report)
    little = svc["throughput_rps"] * svc["latency_ms"]["mean"] / 1000.0
    assert rel(svc["concurrency_mean"], little) < 0.02
    # queue_mean is present minus busy cores, as for FCFS: M/M/2's Lq
    assert svc["queue_mean"] == pytest.approx(
        erlang_c(2, 1.5) * 0.75 / (1 - 0.75), rel=0.05
    )
    window = report["timeline"][10]["components"]["svc"]
    assert 0.6 < window["utilization"] < 0.9


def test_a_dead_ps_instance_fails_its_requests_and_recovers() -> None:
    doc = service_doc(
        rps=50.0, requests=5_000, discipline="ps", warmup_s=0, snapshot_s=10
    )
    tree = doc.model_dump(mode="json")
    tree["faults"] = [{"at_s": 40, "component": "svc", "for_s": 20}]
    report = simengine.run_replication(simengine.parse_document(tree), seed=3)
    # about 20 s x 50 rps refused while down, plus the requests present at 40 s
    # (the instance's own errors: those it held when it died)
    held = _svc(report)["errors"]
    assert 900 < report["requests"]["errors"] < 1_100
    assert 0 < held < 20
    assert report["requests"]["completed"] > 3_800
    kinds = [e["kind"] for e in report["event_log"]]
    assert kinds == ["instance_down", "instance_up"]


def test_ps_behind_a_balancer_with_autoscaling_scales_out() -> None:
    doc = simengine.parse_document(
        {
            "scaleboard": 1,
            "simulation": {"duration_s": 300, "seed": 1, "snapshot_s": 10},
            "workload": {"target": "lb", "rps": 250, "read_ratio": 1.0},
            "components": {
                "lb": {"type": "load_balancer", "targets": ["web"], "layer": 4},
                "web": {
                    "type": "service",
                    "discipline": "ps",
                    "cores": 2,
                    "instances": 1,
                    "stateful": True,
                    "work_ms": {"dist": "exponential", "mean": 10},
                    "autoscale": {
                        "min": 1,
                        "max": 4,
                        "check_s": 10,
                        "boot_s": 5,
                        "cooldown_s": 10,
                    },
                },
            },
        }
    )
    report = simengine.run_replication(doc, seed=1)
    web = report["components"]["web"]
    assert web["instances"]["max"] >= 2
    assert web["utilization"] < 0.95
    assert report["requests"]["completed"] > 0.9 * report["requests"]["offered"]


def test_same_seed_same_report_and_another_seed_differs() -> None:
    doc = service_doc(rps=70.0, work_ms=H2, requests=20_000, discipline="ps")
    one = json.dumps(simengine.simulate(doc), sort_keys=True)
    assert one == json.dumps(simengine.simulate(doc), sort_keys=True)
    other = json.dumps(simengine.run_replication(doc, seed=99), sort_keys=True)
    assert one != other


@pytest.mark.parametrize("value", ["lifo", "PS", 1, None, "processor_sharing"])
def test_a_bad_discipline_is_an_error_naming_the_field(value) -> None:
    tree = {
        "scaleboard": 1,
        "workload": {"target": "web", "rps": 10},
        "components": {"web": {"type": "service", "discipline": value}},
    }
    with pytest.raises(simengine.DocumentError) as err:
        simengine.parse_document(tree)
    assert [e.path for e in err.value.errors] == ["components.web.discipline"]
    assert "'fcfs' or 'ps'" in str(err.value)


def test_discipline_is_in_the_schema_and_the_vocabulary() -> None:
    props = simengine.document_schema()["$defs"]["Service"]["properties"]
    assert props["discipline"]["enum"] == ["fcfs", "ps"]
    assert props["discipline"]["default"] == "fcfs"
    assert simengine.VOCABULARY["disciplines"] == ("fcfs", "ps")
