"""Cost in the report: one price table (simengine.pricing) for the estimate and engine.

Exact equalities: a run's cost of fixed units is arithmetic on the document, so the
estimate and the report must agree to rounding (4 decimals, the estimate's rounding).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers_engine import document, example_document, service_doc

from simengine import simulate
from simengine.analytic import estimate
from simengine.pricing import DEFAULT_PRICES

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


def _short(path: Path):
    return example_document(
        path,
        duration_s=2.0,
        warmup_s=0.5,
        seed=3,
        snapshot_s=0.5,
        replications=1,
        faults=[],
    )


FIXED = [
    p
    for p in EXAMPLES
    if "autoscale" not in p.read_text() and "rebalance" not in p.read_text()
]


def test_most_examples_have_fixed_units():
    assert len(FIXED) >= len(EXAMPLES) - 2


@pytest.mark.parametrize("path", FIXED, ids=lambda p: p.stem)
def test_estimate_cost_equals_report_cost(path: Path):
    doc = _short(path)
    report = simulate(doc)
    est = estimate(doc)
    cost = report["cost"]
    assert round(cost["per_hour"], 4) == est["cost_per_hour"]
    assert set(cost["components"]) == set(est["components"])
    for cid, c in cost["components"].items():
        assert round(c["per_hour"], 4) == est["components"][cid]["cost_per_hour"], cid
    assert cost["per_hour"] == pytest.approx(
        sum(c["per_hour"] for c in cost["components"].values()), abs=1e-9
    )


def test_cost_per_hour_overrides_the_default_table():
    doc = document(
        duration_s=2,
        warmup_s=0.5,
        seed=1,
        workload={"target": "lb", "rps": 50, "read_ratio": 0.8},
        components={
            "lb": {"type": "load_balancer", "targets": ["web"]},
            "web": {
                "type": "service",
                "instances": 3,
                "cores": 2,
                "work_ms": 5,
                "calls": ["db"],
                "cost_per_hour": 0.5,
            },
            "db": {
                "type": "database",
                "primary": {"cores": 4},
                "replicas": {"count": 2},
                "shards": {"count": 2},
            },
        },
    )
    cost = simulate(doc)["cost"]["components"]
    assert cost["web"] == {"per_hour": 1.5, "units": 3.0, "default_price": False}
    assert cost["lb"] == {
        "per_hour": DEFAULT_PRICES["load_balancer"],
        "units": 1.0,
        "default_price": True,
    }
    # 2 shards x (1 primary + 2 replicas) nodes of 4 cores each
    assert cost["db"]["units"] == 6.0
    assert cost["db"]["per_hour"] == pytest.approx(
        6 * 4 * DEFAULT_PRICES["database_core"]
    )
    assert cost["db"]["default_price"] is True
    assert estimate(doc)["components"]["web"]["cost_per_hour"] == 1.5


def test_autoscaled_service_is_billed_for_its_mean_instance_count():
    doc = service_doc(
        rps=400,
        requests=20_000,
        work_ms=10,
        instances=1,
        autoscale={
            "min": 1,
            "max": 6,
            "target_utilization": 0.6,
            "check_s": 2,
            "boot_s": 2,
            "cooldown_s": 2,
        },
        cost_per_hour=1.0,
    )
    report = simulate(doc)
    mean = report["components"]["svc"]["instances"]["mean"]
    assert mean > 1.5  # it did scale out
    assert report["cost"]["components"]["svc"]["units"] == pytest.approx(mean)
    assert report["cost"]["per_hour"] == pytest.approx(mean)
