"""The report's ``components.<id>.waiting`` (``simulation.waiting: true``) against
queueing theory.

Waiting is the time from arrival at a station to the start of service (FCFS). In
M/M/c an arrival waits with probability C (Erlang C) and P(W > t) = C e^{-(c mu -
lambda) t}; in M/G/1 it waits with probability rho and the mean wait is
Pollaczek-Khinchine's. The estimate gives the same figures.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from helpers_engine import rel, service_doc
from queueing_theory import erlang_c

import simengine
from simengine.metrics import LatencyStats, waiting_summary


def _wait_quantile(q: float, lam: float, mu: float, c: int) -> float:
    """The q-quantile (seconds) of the M/M/c wait: 0 up to 1 - C."""
    pw = erlang_c(c, lam / mu)
    if 1.0 - q >= pw:
        return 0.0
    return math.log(pw / (1.0 - q)) / (c * mu - lam)


def _mmck_wait_probability(lam: float, mu: float, c: int, k: int) -> float:
    a = lam / mu
    p = [a**n / math.factorial(n) if n <= c else 0.0 for n in range(k + 1)]
    for n in range(c + 1, k + 1):
        p[n] = p[c] * (a / c) ** (n - c)
    return sum(p[c:k]) / sum(p[:k])


def _waiting(report: dict, cid: str = "svc") -> dict:
    return report["components"][cid]["waiting"]


def waiting_on(doc: simengine.Document) -> simengine.Document:
    """The same document with ``simulation.waiting: true``."""
    tree = doc.model_dump(mode="json")
    tree["simulation"]["waiting"] = True
    return simengine.parse_document(tree)


@pytest.mark.slow
def test_mm4_at_80_percent_waits_as_erlang_c_says() -> None:
    lam, mu, c = 320.0, 100.0, 4
    doc = waiting_on(service_doc(rps=lam, cores=c, requests=1_000_000))
    w = _waiting(simengine.run_replication(doc, seed=11))
    pw = erlang_c(c, lam / mu)  # 0.596
    assert w["probability"] == pytest.approx(pw, abs=0.015)
    assert rel(w["mean_ms"] / 1000, pw / (c * mu - lam)) < 0.03  # 7.45 ms
    assert rel(w["p95_ms"] / 1000, _wait_quantile(0.95, lam, mu, c)) < 0.03
    assert rel(w["p99_ms"] / 1000, _wait_quantile(0.99, lam, mu, c)) < 0.04
    assert w["p50_ms"] / 1000 == pytest.approx(
        _wait_quantile(0.5, lam, mu, c), rel=0.05
    )


def test_mm4_at_half_load_waits_as_erlang_c_says() -> None:
    lam, mu, c = 200.0, 100.0, 4
    doc = waiting_on(service_doc(rps=lam, cores=c, requests=300_000))
    report = simengine.run_replication(doc, seed=3)
    w = _waiting(report)
    pw = erlang_c(c, lam / mu)  # 0.174: the median wait is 0
    assert w["probability"] == pytest.approx(pw, abs=0.01)
    assert rel(w["mean_ms"] / 1000, pw / (c * mu - lam)) < 0.04
    assert w["p50_ms"] == 0.0
    assert rel(w["p95_ms"] / 1000, _wait_quantile(0.95, lam, mu, c)) < 0.04
    # Little's law on the queue alone: Lq = lambda Wq
    svc = report["components"]["svc"]
    lq = svc["throughput_rps"] * w["mean_ms"] / 1000
    assert rel(svc["queue_mean"], lq) < 0.02
    # the estimate: Erlang C and its mean wait, exactly
    est = simengine.estimate(doc)["components"]["svc"]["waiting"]
    assert est["probability"] == pytest.approx(pw, abs=1e-4)
    assert est["mean_ms"] == pytest.approx(1000 * pw / (c * mu - lam), abs=1e-3)


@pytest.mark.parametrize(
    ("work", "scv"),
    [(10, 0.0), ({"dist": "erlang", "mean": 10, "k": 4}, 0.25)],
    ids=["constant", "erlang4"],
)
def test_mg1_waits_with_probability_rho_and_the_pk_mean(work, scv) -> None:
    lam, es = 80.0, 0.010  # rho 0.8
    doc = waiting_on(service_doc(rps=lam, work_ms=work, requests=800_000))
    report = simengine.run_replication(doc, seed=12)
    w = _waiting(report)
    rho = lam * es
    wq = rho * es * (1 + scv) / (2 * (1 - rho))  # 20 ms constant, 25 ms erlang-4
    assert w["probability"] == pytest.approx(rho, abs=0.01)
    assert rel(w["mean_ms"] / 1000, wq) < 0.03
    # and the response time is P-K's E[S] + Wq (M/E4/1 at rho 0.8: 35 ms)
    assert rel(report["latency_ms"]["mean"] / 1000, es + wq) < 0.025
    est = simengine.estimate(doc)["components"]["svc"]
    assert est["waiting"]["probability"] == pytest.approx(rho, abs=1e-4)
    assert est["waiting"]["mean_ms"] == pytest.approx(1000 * wq, rel=1e-3)
    assert est["latency_ms"]["mean"] == pytest.approx(1000 * (es + wq), rel=1e-3)


def test_a_queue_limit_counts_the_accepted_arrivals_that_wait() -> None:
    lam, mu, c, q = 380.0, 100.0, 4, 6
    doc = waiting_on(service_doc(rps=lam, cores=c, requests=300_000, queue_limit=q))
    w = _waiting(simengine.run_replication(doc, seed=5))
    expected = _mmck_wait_probability(lam, mu, c, c + q)
    assert w["probability"] == pytest.approx(expected, abs=0.015)
    est = simengine.estimate(doc)["components"]["svc"]["waiting"]
    assert est["probability"] == pytest.approx(expected, abs=1e-4)


def test_an_idle_station_never_waits_and_one_without_arrivals_says_none() -> None:
    doc = waiting_on(service_doc(rps=1.0, requests=200, work_ms=1))
    w = _waiting(simengine.run_replication(doc, seed=1))
    assert w == {
        "probability": 0.0,
        "mean_ms": 0.0,
        "p50_ms": 0.0,
        "p95_ms": 0.0,
        "p99_ms": 0.0,
    }
    nothing = waiting_summary(LatencyStats(), 0, 0)
    assert nothing == {
        "probability": None,
        "mean_ms": None,
        "p50_ms": None,
        "p95_ms": None,
        "p99_ms": None,
    }


def test_wait_quantiles_mix_the_zero_waits_with_the_positive_ones() -> None:
    stats = LatencyStats()
    waits = np.linspace(0.001, 0.1, 1000)  # 1000 waits, 1 .. 100 ms
    stats.values.extend(waits.tolist())
    stats.close_window(True)
    # 3000 arrivals, 1000 of them queued: P(wait) 1/3, median wait 0
    w = waiting_summary(stats, 3000, 1000)
    assert w["probability"] == pytest.approx(1 / 3)
    assert w["mean_ms"] == pytest.approx(1000 * waits.sum() / 3000)
    assert w["p50_ms"] == 0.0
    # p95 of the mixture: the 85th percentile of the positive waits
    assert w["p95_ms"] == pytest.approx(1000 * np.quantile(waits, 0.85), rel=0.005)
    assert w["p99_ms"] == pytest.approx(1000 * np.quantile(waits, 0.97), rel=0.005)
    assert set(waiting_summary(stats, 3000, 1000, times=False)) == {"probability"}


def test_every_station_reports_waiting_and_replications_give_intervals() -> None:
    doc = simengine.parse_document(
        {
            "scaleboard": 1,
            "simulation": {
                "duration_s": 20,
                "seed": 2,
                "replications": 2,
                "waiting": True,
            },
            "workload": {"target": "lb", "rps": 300, "read_ratio": 0.8},
            "components": {
                "lb": {"type": "load_balancer", "targets": ["web"]},
                "web": {"type": "service", "instances": 2, "cores": 2, "calls": ["db"]},
                "db": {
                    "type": "database",
                    "primary": {"cores": 2},
                    "shards": {"count": 2},
                },
            },
        }
    )
    report = simengine.simulate(doc)
    for cid in ("web", "db"):
        w = report["components"][cid]["waiting"]
        assert 0.0 < w["probability"] < 1.0
        assert w["mean_ms"] > 0.0
        assert f"components.{cid}.waiting.probability" in report["ci95"]
    assert "waiting" not in report["components"]["lb"]


def test_without_simulation_waiting_no_station_reports_it() -> None:
    doc = service_doc(rps=50.0, cores=2, requests=2_000)
    assert doc.simulation.waiting is False
    report = simengine.run_replication(doc, seed=1)
    assert "waiting" not in report["components"]["svc"]
    with_it = simengine.run_replication(waiting_on(doc), seed=1)
    # the flag measures, it changes nothing else
    del with_it["components"]["svc"]["waiting"]
    assert json.dumps(with_it, sort_keys=True) == json.dumps(report, sort_keys=True)


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_a_bad_simulation_waiting_is_an_error_naming_the_field(value) -> None:
    tree = {
        "scaleboard": 1,
        "simulation": {"waiting": value},
        "workload": {"target": "web", "rps": 10},
        "components": {"web": {"type": "service"}},
    }
    with pytest.raises(simengine.DocumentError) as err:
        simengine.parse_document(tree)
    assert [e.path for e in err.value.errors] == ["simulation.waiting"]
