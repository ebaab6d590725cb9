"""The designer's inspector for a balancer's rate limit and its own capacity
(rate_limit, work_ms, cores): built from the JSON Schema, shown, applied, refused."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from django.urls import reverse

from tests.web.factories import make_scenario
from tests.web.test_designer import WEB_TIER


@pytest.fixture
def scenario(alice):
    return make_scenario(alice, WEB_TIER)


def _inspect(client, scenario, **fields):
    response = client.post(
        reverse("designer_inspect", args=[scenario.pk]),
        {"document": WEB_TIER, "subject": "lb", **fields},
    )
    assert response.status_code == 200
    html = response.content.decode()
    match = re.search(
        r'<script id="inspector-result" type="application/json">(.*?)</script>', html
    )
    return html, (yaml.safe_load(json.loads(match.group(1))) if match else None)


def _field(fields, name):
    for f in fields:
        if f.name == name:
            return f
        found = _field(f.children, name)
        if found is not None:
            return found
    return None


def test_the_balancer_form_has_the_rate_limit_and_capacity_fields():
    from dashboard.scenarios import inspector

    fields = inspector.build_form(yaml.safe_load(WEB_TIER), "lb").fields
    group = _field(fields, "rate_limit")
    assert group.kind == "group" and group.optional_group and not group.enabled
    assert _field(fields, "rate_limit.rps").kind == "number"
    assert _field(fields, "rate_limit.burst").kind == "integer"
    assert _field(fields, "work_ms").kind == "duration"
    cores = _field(fields, "cores")
    assert cores.kind == "integer" and "work_ms" in cores.help


@pytest.mark.django_db
def test_inspector_shows_the_balancer_fields(alice_client, scenario):
    limited = WEB_TIER.replace(
        "lb: {type: load_balancer, targets: [web]}",
        "lb: {type: load_balancer, targets: [web], rate_limit: {rps: 250, burst: 40}}",
    )
    response = alice_client.post(
        reverse("designer_inspect", args=[scenario.pk]),
        {"document": limited, "subject": "lb"},
    )
    html = re.sub(r"\s+", " ", response.content.decode())
    assert 'name="rate_limit.__on"' in html
    assert re.search(r'name="rate_limit\.rps"[^>]*value="250"', html)
    assert re.search(r'name="rate_limit\.burst"[^>]*value="40"', html)
    assert 'name="work_ms.mean"' in html and 'name="cores"' in html
    assert "token bucket" in html  # help text from the schema


@pytest.mark.django_db
def test_ticking_the_rate_limit_asks_for_its_rate_and_burst(alice_client, scenario):
    html, tree = _inspect(
        alice_client, scenario, apply="1", targets="web", **{"rate_limit.__on": "1"}
    )
    assert tree is None and "Not applied" in html
    assert 'name="rate_limit.rps"' in html and 'name="rate_limit.burst"' in html
    assert "components.lb.rate_limit.rps: is required" in html
    assert "components.lb.rate_limit.burst: is required" in html


@pytest.mark.django_db
def test_inspector_applies_a_rate_limit_and_balancer_work(alice_client, scenario):
    _, tree = _inspect(
        alice_client,
        scenario,
        apply="1",
        targets="web",
        **{
            "rate_limit.__on": "1",
            "rate_limit.rps": "500",
            "rate_limit.burst": "50",
            "work_ms.dist": "exponential",
            "work_ms.mean": "0.5",
            "cores": "2",
        },
    )
    assert tree is not None
    lb = tree["components"]["lb"]
    assert lb["rate_limit"] == {"rps": 500, "burst": 50}
    assert lb["work_ms"] == {"dist": "exponential", "mean": 0.5}
    assert lb["cores"] == 2
    assert scenario.versions.count() == 1  # applying is not saving


@pytest.mark.django_db
def test_inspector_refuses_a_bad_burst_and_cores_without_work(alice_client, scenario):
    html, tree = _inspect(
        alice_client,
        scenario,
        apply="1",
        targets="web",
        **{"rate_limit.__on": "1", "rate_limit.rps": "500", "rate_limit.burst": "0"},
    )
    assert tree is None and "Not applied" in html
    assert "components.lb.rate_limit.burst: must be &gt;= 1 (got 0)" in html
    html, tree = _inspect(alice_client, scenario, apply="1", targets="web", cores="2")
    assert tree is None
    assert "components.lb.cores: only a balancer with work_ms has cores" in html
