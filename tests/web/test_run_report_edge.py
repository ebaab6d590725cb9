"""The run page's report for a rate-limited run with a working balancer: the 429s
beside the rejected count, and the balancer's measured utilization."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from dashboard.runs.models import Run
from tests.web.factories import make_run


def _report(requests: dict, lb: dict) -> dict:
    return {
        "requests": {"offered": 1000, "completed": 700, "rejected": 300, **requests},
        "throughput_rps": 70.0,
        "latency_ms": {"mean": 12.0, "p50": 10.0, "p99": 40.0},
        "bottleneck": {"component": "lb", "utilization": 0.85, "advice": "busy"},
        "components": {
            "lb": {"type": "load_balancer", "throughput_rps": 70.0, **lb},
            "web": {"type": "service", "utilization": 0.4},
        },
    }


@pytest.mark.django_db
def test_a_rate_limited_run_shows_its_429s_and_the_balancers_utilization(
    alice, alice_client
):
    run = make_run(alice, status=Run.Status.SUCCEEDED)
    run.report = _report(
        {"rate_limited": 250}, {"utilization": 0.85, "rate_limited": 250}
    )
    run.save()
    page = alice_client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert re.search(r'data-testid="rate-limited">\s*250\s*<', page)
    assert "of which rate limited (429)" in page
    cell = re.search(r'<td data-testid="utilization-lb">(.*?)</td>', page, re.S)
    assert cell and "85.0%" in cell.group(1)


@pytest.mark.django_db
def test_a_run_without_a_rate_limit_has_no_429_row(alice, alice_client):
    run = make_run(alice, status=Run.Status.SUCCEEDED)
    run.report = _report({}, {"utilization": None})
    run.save()
    page = alice_client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert "rate limited (429)" not in page
