"""The run page's report: what is measured is shown; what is not says so, and why."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from dashboard.runs.models import Run
from tests.web.factories import make_run


def _report(components: dict) -> dict:
    return {
        "requests": {"offered": 1000, "completed": 1000},
        "throughput_rps": 100.0,
        "latency_ms": {"mean": 12.0, "p50": 10.0, "p99": 40.0},
        "bottleneck": {"component": "web", "utilization": 0.5, "advice": "fine"},
        "components": components,
    }


def _utilization_cell(page: str, name: str) -> str:
    match = re.search(rf'<td data-testid="utilization-{name}">(.*?)</td>', page, re.S)
    assert match, f"no utilization cell for {name}"
    return match.group(1)


@pytest.mark.django_db
def test_unmeasured_utilization_shows_a_dash_and_the_reason(alice, alice_client):
    run = make_run(alice, status=Run.Status.SUCCEEDED)
    run.report = _report(
        {
            # As reports are from now on: null, with the engine's reason.
            "lb": {
                "type": "load_balancer",
                "utilization": None,
                "utilization_note": "a balancer has no capacity of its own",
                "throughput_rps": 100.0,
            },
            # As reports stored before carry them: 0.0 for a balancer and a cache.
            "lb_old": {"type": "load_balancer", "utilization": 0.0},
            "cache": {"type": "cache", "utilization": 0.0, "hit_ratio": 0.8},
            "web": {"type": "service", "utilization": 0.5},
            "idle": {"type": "service", "utilization": 0.0},
        }
    )
    run.save()
    page = alice_client.get(reverse("run_detail", args=[run.pk])).content.decode()

    lb = _utilization_cell(page, "lb")
    assert "0.0%" not in lb and 'class="bar"' not in lb
    assert "-" in lb and "a balancer has no capacity of its own" in lb
    for name in ("lb_old", "cache"):
        cell = _utilization_cell(page, name)
        assert "0.0%" not in cell and 'class="bar"' not in cell
        assert "no capacity of its own in this model" in cell
    assert "50.0%" in _utilization_cell(page, "web")
    # A service measured idle is a measurement: 0.0%, with its (empty) bar.
    assert "0.0%" in _utilization_cell(page, "idle")
