"""The sweep endpoints of the HTTP API: start (values, from/to/steps, capacity,
A/B), read, cancel; errors naming the field; a team viewer 403; limits 429."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from dashboard.api.services import token_create
from dashboard.runs.models import Run
from dashboard.scenarios.services import scenario_create, scenario_version_create
from dashboard.sweeps.models import Sweep
from tests.web.sweep_helpers import SWEEP_DOC, capture_runs, drain

pytestmark = pytest.mark.django_db(transaction=True)
API = "/api/v1"
DOC = SWEEP_DOC


@pytest.fixture(autouse=True)
def queued(monkeypatch) -> list:
    return capture_runs(monkeypatch)


def api(user) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token_create(user=user, name='t')[1]}")


def post(client, path, body):
    return client.post(API + path, json.dumps(body), content_type="application/json")


@pytest.fixture
def scenario(alice):
    return scenario_create(owner=alice, text=DOC)


def test_start_read_and_finish_a_sweep(alice, scenario, queued):
    client = api(alice)
    response = post(client, "/sweeps", {"scenario": scenario.pk, "vary": "workload.rps",
                                         "from": 100, "to": 300, "steps": 3})  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "queued" and body["values"] == [100, 200, 300]
    assert [p["value"] for p in body["points"]] == [100, 200, 300]
    assert body["url"].endswith(f"/sweeps/{body['id']}/")
    drain(queued)
    done = client.get(f"{API}/sweeps/{body['id']}").json()
    assert done["status"] == "succeeded"
    assert all(p["figures"]["throughput_rps"] > 0 for p in done["points"])
    assert all("report" not in p["figures"] for p in done["points"])


def test_capacity_and_a_b_through_the_api(alice, scenario, queued):
    v2 = scenario_version_create(scenario=scenario, author=alice, message="3",
                                 text=DOC.replace("instances: 2", "instances: 3"))  # fmt: skip
    client = api(alice)
    response = post(client, "/sweeps", {"scenario": scenario.pk, "version": 1,
                                         "compare_version": v2.number,
                                         "kind": "capacity", "vary": "workload.rps",
                                         "resolution": 0.05})  # fmt: skip
    assert response.status_code == 201, response.content
    sweep_id = response.json()["id"]
    drain(queued)
    done = client.get(f"{API}/sweeps/{sweep_id}").json()
    assert done["status"] == "succeeded", done["error"]
    a, b = done["result"]["a"], done["result"]["b"]
    assert b["max_value"] > a["max_value"]  # three instances take more
    assert a["answer"].startswith("up to ")


@pytest.mark.parametrize(
    ("body", "path", "status"),
    [
        ({"vary": "workload.rps", "values": [-5, 5]}, "workload.rps", 400),
        ({"vary": "components.web.instances", "values": [1.5]},
         "components.web.instances", 400),
        ({"vary": "workload.rps", "values": []}, "values", 400),
        ({"vary": "workload..rps", "values": [1]}, "vary", 400),
        ({"vary": "workload.rps", "from": 1, "to": 5, "steps": 0}, "steps", 400),
        ({"vary": "workload.rps", "kind": "capacity", "low": 9, "high": 1}, "low",
         400),
        ({"vary": "workload.rps", "kind": "capacity", "resolution": 1.5},
         "resolution", 400),
        ({"vary": "workload.rps", "values": [1], "bogus": 1}, "bogus", 400),
        ({"vary": "workload.rps", "values": [1], "compare_version": 7},
         "compare_version", 400),
        ({"vary": "workload.rps", "values": [1], "version": 7}, None, 404),
    ],
)  # fmt: skip
def test_bad_bodies_name_the_field_and_create_nothing(
    alice, scenario, body, path, status
):
    response = post(api(alice), "/sweeps", {"scenario": scenario.pk, **body})
    assert response.status_code == status, response.content
    if path is not None:
        paths = [e["path"] for e in response.json()["errors"]]
        assert any(p.startswith(path) for p in paths), response.json()
    assert Sweep.objects.count() == 0 and Run.objects.count() == 0


def test_a_team_viewer_may_read_but_not_start_or_cancel(alice, dave, team, queued):
    scenario = scenario_create(owner=alice, text=DOC, team=team)
    created = post(api(alice), "/sweeps", {"scenario": scenario.pk,
                                            "vary": "workload.rps", "values": [100]})  # fmt: skip
    sweep_id = created.json()["id"]
    viewer = api(dave)
    assert viewer.get(f"{API}/sweeps/{sweep_id}").status_code == 200
    response = post(viewer, "/sweeps", {"scenario": scenario.pk,
                                         "vary": "workload.rps", "values": [1]})  # fmt: skip
    assert response.status_code == 403
    assert post(viewer, f"/sweeps/{sweep_id}/cancel", {}).status_code == 403
    assert Sweep.objects.get().status == "queued" and Sweep.objects.count() == 1
    cancelled = post(api(alice), f"/sweeps/{sweep_id}/cancel", {})
    assert cancelled.status_code == 200 and cancelled.json()["cancelled"] is True
    assert cancelled.json()["sweep"]["status"] == "cancelled"


def test_limits_are_429_and_400(alice, scenario, settings):
    settings.SWEEPS_ACTIVE_PER_USER = 1
    settings.SWEEP_MAX_POINTS = 2
    client = api(alice)
    too_many = post(client, "/sweeps", {"scenario": scenario.pk, "vary": "workload.rps",
                                         "values": [1, 2, 3]})  # fmt: skip
    assert too_many.status_code == 400
    assert "SWEEP_MAX_POINTS" in too_many.json()["detail"]
    ok = post(client, "/sweeps", {"scenario": scenario.pk, "vary": "workload.rps",
                                   "values": [100]})  # fmt: skip
    assert ok.status_code == 201
    refused = post(client, "/sweeps", {"scenario": scenario.pk,
                                        "vary": "workload.rps", "values": [200]})  # fmt: skip
    assert refused.status_code == 429
    assert "SWEEPS_ACTIVE_PER_USER" in refused.json()["detail"]
    assert Sweep.objects.count() == 1
