"""The estimate with constant and renewal arrivals: the wait at the service the
clients call takes the gaps' variability (Allen-Cunneen, corrected by Kramer and
Langenbach-Belz for gaps more regular than Poisson), held against the exact GI/M/1
mean; the probability of waiting there is left to a run, and says so."""

from __future__ import annotations

import math

import pytest
from test_distributions import ARRIVALS, _gim1_ms

import simengine


def _h2_laplace(s: float) -> float:
    c2 = 4.0
    p1 = 0.5 * (1 + math.sqrt((c2 - 1) / (c2 + 1)))
    r1, r2 = 2 * p1 * 70.0, 2 * (1 - p1) * 70.0
    return p1 * r1 / (r1 + s) + (1 - p1) * r2 / (r2 + s)


@pytest.mark.parametrize(
    ("arrivals", "laplace", "tolerance"),
    [
        ("{dist: erlang, k: 4}", lambda s: (280.0 / (280.0 + s)) ** 4, 0.025),
        ("{dist: constant}", lambda s: math.exp(-s / 70.0), 0.01),
        ("constant", lambda s: math.exp(-s / 70.0), 0.01),
        ("{dist: hyperexponential, cv: 2}", _h2_laplace, 0.05),
    ],
    ids=["erlang4", "constant-gaps", "constant", "hyperexponential"],
)
def test_estimate_uses_the_arrival_scv_against_gi_m_1(arrivals, laplace, tolerance):
    doc = simengine.parse_document(ARRIVALS.replace("ARR", arrivals))
    exact = _gim1_ms(laplace, 100.0)  # E4: 22.4 ms, D: 18.8, H2: 65.7 (Poisson: 33.3)
    est = simengine.estimate(doc)
    assert est["latency_ms"]["mean"] == pytest.approx(exact, rel=tolerance)
    assert est["components"]["s"]["waiting"]["probability"] is None
    assert any(
        "renewal process" in n and "not available: run it" in n for n in est["notes"]
    )


def test_poisson_arrivals_keep_pollaczek_khinchine_and_erlang_c():
    doc = simengine.parse_document(ARRIVALS.replace("ARR", "poisson"))
    est = simengine.estimate(doc)
    assert est["latency_ms"]["mean"] == pytest.approx(1000 / 30.0, rel=1e-4)
    assert est["components"]["s"]["waiting"] == {"probability": 0.7, "mean_ms": 23.333}
    assert not any("renewal" in n for n in est["notes"])


def test_renewal_arrivals_behind_a_balancer_are_still_treated_as_poisson():
    text = (
        ARRIVALS.replace("ARR", "{dist: erlang, k: 4}").replace(
            "target: s", "target: lb"
        )
        + "  lb: {type: load_balancer, targets: [s], layer: 4}\n"
    )
    est = simengine.estimate(simengine.parse_document(text))
    assert est["latency_ms"]["mean"] == pytest.approx(1000 / 30.0, rel=1e-3)
    assert any("treats them as Poisson" in n for n in est["notes"])
