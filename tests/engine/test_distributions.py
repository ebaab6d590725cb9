"""Service-time distributions beyond the exponential: each held against the
Pollaczek-Khinchine mean of M/G/1 (and the estimate says the same), each refused
naming the parameter it lacks."""

from __future__ import annotations

import math

import pytest

import simengine

BASE = """\
scaleboard: 1
name: M/G/1
simulation: {duration_s: DURATION, warmup_s: 50, seed: 3, snapshot_s: 500}
workload: {target: s, rps: 70, read_ratio: 1.0}
components:
  s: {type: service, cores: 1, work_ms: WORK}
"""


def _pk_ms(lam: float, mean_ms: float, scv: float) -> float:
    """M/G/1 mean response (Pollaczek-Khinchine), ms."""
    es = mean_ms / 1000.0
    rho = lam * es
    return 1000.0 * (es + lam * es * es * (1.0 + scv) / (2.0 * (1.0 - rho)))


@pytest.mark.parametrize(
    ("work", "scv", "duration", "tolerance"),
    [
        ("{dist: erlang, mean: 10, k: 4}", 0.25, 10000, 0.02),
        ("{dist: hyperexponential, mean: 10, cv: 2}", 4.0, 20000, 0.03),
        ("{dist: pareto, mean: 10, alpha: 3}", 1.0 / 3.0, 20000, 0.03),
        ("{dist: empirical, samples: [5, 5, 20]}", 0.5, 10000, 0.02),
    ],
)
def test_mg1_matches_pollaczek_khinchine(work, scv, duration, tolerance):
    doc = simengine.parse_document(
        BASE.replace("WORK", work).replace("DURATION", str(duration))
    )
    dist = doc.components["s"].work_ms
    assert dist.mean == 10.0 and dist.scv == pytest.approx(scv)
    expected = _pk_ms(70.0, 10.0, scv)
    report = simengine.simulate(doc)
    assert report["latency_ms"]["mean"] == pytest.approx(expected, rel=tolerance)
    assert report["components"]["s"]["utilization"] == pytest.approx(0.7, rel=0.02)
    # the instant estimate is Pollaczek-Khinchine for one server
    assert simengine.estimate(doc)["latency_ms"]["mean"] == pytest.approx(
        expected, rel=1e-3
    )


def test_samples_are_resampled_uniformly():
    doc = simengine.parse_document(
        BASE.replace("WORK", "{dist: empirical, samples: [1, 2, 3, 4]}")
        .replace("DURATION", "2000")
        .replace("rps: 70", "rps: 5")
    )
    report = simengine.simulate(doc)
    # nearly no queueing at 1% load: the response is the work, mean 2.5 ms
    assert report["latency_ms"]["mean"] == pytest.approx(2.5, rel=0.03)


def test_a_pareto_of_infinite_variance_has_no_estimated_wait_and_says_why():
    doc = simengine.parse_document(
        BASE.replace("WORK", "{dist: pareto, mean: 10, alpha: 1.5}").replace(
            "DURATION", "100"
        )
    )
    estimate = simengine.estimate(doc)
    assert estimate["latency_ms"] is None
    assert any("infinite variance" in note for note in estimate["notes"])
    assert "not available" in simengine.format_estimate(estimate)
    assert simengine.simulate(doc)["requests"]["completed"] > 0  # a finite run runs


@pytest.mark.parametrize(
    ("work", "path", "words"),
    [
        ("{dist: erlang, mean: 8}", "components.s.work_ms.k", "an erlang needs k"),
        ("{dist: erlang, mean: 8, k: 0}", "components.s.work_ms.k", ">= 1"),
        ("{dist: hyperexponential, mean: 8}", "components.s.work_ms.cv", "cv > 1"),
        ("{dist: pareto, mean: 8}", "components.s.work_ms.alpha", "needs alpha"),
        ("{dist: pareto, mean: 8, alpha: 1}", "components.s.work_ms.alpha", "> 1"),
        ("{dist: empirical}", "components.s.work_ms.samples", "needs samples"),
        (
            "{dist: empirical, samples: []}",
            "components.s.work_ms.samples",
            "at least 1",
        ),
        (
            "{dist: empirical, samples: [1, -2]}",
            "components.s.work_ms.samples[1]",
            ">= 0",
        ),
        (
            "{dist: empirical, mean: 3, samples: [1]}",
            "components.s.work_ms.mean",
            "its samples'",
        ),
        ("{dist: exponential}", "components.s.work_ms.mean", "is required"),
        (
            "{dist: exponential, mean: 3, k: 2}",
            "components.s.work_ms.k",
            "only an erlang",
        ),
        (
            "{dist: lognormal, mean: 3, alpha: 2}",
            "components.s.work_ms.alpha",
            "only a pareto",
        ),
        (
            "{dist: uniform, mean: 3, samples: [1]}",
            "components.s.work_ms.samples",
            "only an empirical",
        ),
    ],
)
def test_a_distribution_missing_or_misusing_a_parameter_names_it(work, path, words):
    with pytest.raises(simengine.DocumentError) as err:
        simengine.parse_document(BASE.replace("WORK", work).replace("DURATION", "10"))
    assert path in [e.path for e in err.value.errors], err.value
    assert words in str(err.value)


# --- arrivals as a renewal process ---------------------------------------------------


def _gim1_ms(laplace, mu: float) -> float:
    """GI/M/1 mean response: 1/(mu (1 - sigma)), sigma = A*(mu (1 - sigma))."""
    sigma = 0.5
    for _ in range(5000):
        sigma = laplace(mu * (1.0 - sigma))
    return 1000.0 / (mu * (1.0 - sigma))


ARRIVALS = """\
scaleboard: 1
name: GI/M/1
simulation: {duration_s: 20000, warmup_s: 20, seed: 5, snapshot_s: 500}
workload: {target: s, rps: 70, read_ratio: 1.0, arrivals: ARR}
components:
  s: {type: service, cores: 1, work_ms: {dist: exponential, mean: 10}}
"""


@pytest.mark.parametrize(
    ("arrivals", "laplace"),
    [
        ("{dist: erlang, k: 4}", lambda s: (280.0 / (280.0 + s)) ** 4),
        ("{dist: constant}", lambda s: math.exp(-s / 70.0)),
        (
            "{dist: hyperexponential, cv: 2}",
            None,  # filled in below: the balanced two-phase fit
        ),
    ],
)
def test_renewal_arrivals_match_gi_m_1(arrivals, laplace):
    if laplace is None:
        c2 = 4.0
        p1 = 0.5 * (1 + math.sqrt((c2 - 1) / (c2 + 1)))
        r1, r2 = 2 * p1 * 70.0, 2 * (1 - p1) * 70.0
        laplace = lambda s: p1 * r1 / (r1 + s) + (1 - p1) * r2 / (r2 + s)  # noqa: E731
    doc = simengine.parse_document(ARRIVALS.replace("ARR", arrivals))
    report = simengine.simulate(doc)
    assert report["throughput_rps"] == pytest.approx(70.0, rel=0.01)
    assert report["latency_ms"]["mean"] == pytest.approx(
        _gim1_ms(laplace, 100.0), rel=0.03
    )
    assert any("renewal process" in n for n in simengine.estimate(doc)["notes"])


def test_renewal_gaps_follow_phases_and_empirical_gaps_are_scaled_to_the_rate():
    text = (
        ARRIVALS.replace("duration_s: 20000", "duration_s: 300")
        .replace("snapshot_s: 500", "snapshot_s: 10")
        .replace("read_ratio: 1.0,", "read_ratio: 1.0, phases: [{at_s: 120, rps: 20}],")
    )
    doc = simengine.parse_document(
        text.replace("ARR", "{dist: empirical, samples: [1, 3]}")
    )
    report = simengine.simulate(doc)
    early = [w["offered_rps"] for w in report["timeline"] if w["t_s"] <= 100]
    late = [w["offered_rps"] for w in report["timeline"] if w["t_s"] > 200]
    assert sum(early) / len(early) == pytest.approx(70.0, rel=0.05)
    assert sum(late) / len(late) == pytest.approx(20.0, rel=0.1)


@pytest.mark.parametrize(
    ("arrivals", "path", "words"),
    [
        ("{dist: erlang}", "workload.arrivals.k", "an erlang needs k"),
        ("{dist: erlang, k: 2, mean: 3}", "workload.arrivals.mean", "unknown field"),
        (
            "{dist: empirical, samples: [0, 0]}",
            "workload.arrivals.samples",
            "not all be 0",
        ),
        ("{dist: hyperexponential, cv: 0.5}", "workload.arrivals.cv", "cv > 1"),
        (
            "weird",
            "workload.arrivals",
            "must be one of: 'poisson', 'constant' or 'bursty'",
        ),
    ],
)
def test_bad_renewal_arrivals_name_the_field(arrivals, path, words):
    with pytest.raises(simengine.DocumentError) as err:
        simengine.parse_document(ARRIVALS.replace("ARR", arrivals))
    assert path in [e.path for e in err.value.errors], err.value
    assert words in str(err.value)
