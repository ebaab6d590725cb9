"""The sweep pages: the form (fields of the document, errors naming the field,
typed values kept), the sweep page and its poll, cancel, CSV, a scenario's sweeps,
who may do what (another user 404, a team viewer 403), limits, shared pages."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from dashboard.runs.models import Run
from dashboard.scenarios.services import scenario_create
from dashboard.sharing.services import share_link_create
from dashboard.sweeps.models import Sweep
from dashboard.sweeps.services import sweep_create
from tests.web.sweep_helpers import SWEEP_DOC, capture_runs, drain

pytestmark = pytest.mark.django_db(transaction=True)

DOC = SWEEP_DOC


@pytest.fixture(autouse=True)
def queued(monkeypatch) -> list:
    return capture_runs(monkeypatch)


@pytest.fixture
def scenario(alice):
    return scenario_create(owner=alice, text=DOC)


def _start(client, scenario, **data):
    return client.post(f"/scenarios/{scenario.pk}/sweeps/new/", data)


def test_the_form_lists_the_documents_numeric_fields_with_their_values(
    alice_client, scenario
):
    page = alice_client.get(f"/scenarios/{scenario.pk}/sweeps/new/")
    assert page.status_code == 200
    html = page.content.decode()
    for option in (
        "workload.rps (now 100)",
        "components.web.instances (now 2)",
        "components.web.cores (now 2)",
        "components.web.work_ms.mean (now 10)",
    ):
        assert option in html
    assert "simulation.duration_s" not in html  # run settings are not swept
    assert 'value="capacity" checked' in html  # it has objectives
    detail = alice_client.get(f"/scenarios/{scenario.pk}/").content.decode()
    assert f'href="/scenarios/{scenario.pk}/sweeps/new/"' in detail


def test_starting_a_sweep_runs_its_points_and_the_page_polls_them(
    alice_client, scenario, queued
):
    response = _start(alice_client, scenario, vary="workload.rps", kind="sweep",
                      values="100, 250, 400")  # fmt: skip
    assert response.status_code == 302
    sweep = Sweep.objects.get()
    assert response["Location"] == f"/sweeps/{sweep.pk}/"
    page = alice_client.get(response["Location"])
    assert page.status_code == 200
    assert b'id="sweep-initial"' in page.content and b"js/sweep.js" in page.content
    data = alice_client.get(f"/sweeps/{sweep.pk}/data.json").json()
    assert data["status"] == "queued" and data["points_done"] == 0
    assert [p["value"] for p in data["series"]["a"]] == [100, 250, 400]
    drain(queued)
    data = alice_client.get(f"/sweeps/{sweep.pk}/data.json").json()
    assert data["status"] == "succeeded" and data["final"]
    points = data["series"]["a"]
    assert all(p["recorded"] and p["throughput_rps"] > 0 for p in points)
    assert all(p["url"] == f"/runs/{p['run']}/summary/" for p in points)
    assert "report" not in points[0]  # the slim report stays in the database
    # The knee: the largest value whose objectives hold.
    held = [p["value"] for p in points if p["met"]]
    assert data["knee_rule"] == "objectives" and data["knee"]["a"] == max(held)
    rows = list(csv.DictReader(io.StringIO(
        alice_client.get(f"/sweeps/{sweep.pk}/points.csv").content.decode()
    )))  # fmt: skip
    assert [r["value"] for r in rows] == ["100", "250", "400"]
    assert {r["busiest"] for r in rows} == {"web"}
    assert rows[0]["met"] == "yes" and rows[2]["met"] == "no"
    assert float(rows[1]["p99_ms"]) == points[1]["p99_ms"]
    listing = alice_client.get(f"/scenarios/{scenario.pk}/sweeps/").content.decode()
    assert f"/sweeps/{sweep.pk}/" in listing


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"vary": "workload.rps", "kind": "sweep", "values": "100, abc"},
         "values", "abc&#x27; is not a number"),
        ({"vary": "components.web.instances", "kind": "sweep", "values": "0, 2"},
         "components.web.instances", "= 0"),
        ({"vary": "workload.rps", "kind": "sweep", "from": "1", "to": "9",
          "steps": "x"}, "steps", "whole number"),
        ({"vary": "workload.rps", "kind": "capacity", "low": "900", "high": "100"},
         "low", "below high"),
        ({"vary": "workload.rps", "kind": "capacity", "resolution": "inf"},
         "resolution", "finite"),
        ({"vary": "nope..x", "kind": "sweep", "values": "1"}, "vary", "field path"),
        ({"vary": "workload.rps", "kind": "sweep", "values": "1", "compare": "9"},
         "compare", "no version 9"),
        ({"vary": "workload.rps", "kind": "other"}, "kind", "sweep or capacity"),
    ],
)  # fmt: skip
def test_bad_input_is_a_400_naming_the_field_keeping_what_was_typed(
    alice_client, scenario, data, field, words
):
    response = _start(alice_client, scenario, **data)
    assert response.status_code == 400
    html = response.content.decode()
    assert f'data-field="{field}' in html, html[:3000]
    assert words in html
    for key in ("values", "low", "high", "from", "to"):
        if data.get(key):
            assert f'value="{data[key]}"' in html
    assert Sweep.objects.count() == 0 and Run.objects.count() == 0


def test_nul_bytes_and_lone_surrogates_are_refused(alice_client, scenario):
    for bad in ("workload.rps%00", "workload.%ED%A0%80rps"):
        response = alice_client.post(
            f"/scenarios/{scenario.pk}/sweeps/new/",
            f"vary={bad}&kind=sweep&values=1",
            content_type="application/x-www-form-urlencoded",
        )
        assert response.status_code == 400
        assert b"vary" in response.content
    assert Sweep.objects.count() == 0


def test_too_many_active_sweeps_is_a_429(alice_client, scenario, settings):
    settings.SWEEPS_ACTIVE_PER_USER = 1
    assert _start(alice_client, scenario, vary="workload.rps", kind="sweep",
                  values="100").status_code == 302  # fmt: skip
    response = _start(alice_client, scenario, vary="workload.rps", kind="sweep",
                      values="200")  # fmt: skip
    assert response.status_code == 429
    assert "SWEEPS_ACTIVE_PER_USER" in response.content.decode()
    assert Sweep.objects.count() == 1


def test_sweep_max_points_is_a_400_naming_steps(alice_client, scenario, settings):
    settings.SWEEP_MAX_POINTS = 3
    response = _start(alice_client, scenario, vary="workload.rps", kind="sweep",
                      **{"from": "100", "to": "400", "steps": "4"})  # fmt: skip
    assert response.status_code == 400
    assert 'data-field="steps"' in response.content.decode()
    assert "at most 3 points" in response.content.decode()


def test_cancel_stops_every_point_run(alice_client, scenario, queued):
    _start(alice_client, scenario, vary="workload.rps", kind="sweep",
           values="100, 200, 300")  # fmt: skip
    sweep = Sweep.objects.get()
    response = alice_client.post(f"/sweeps/{sweep.pk}/cancel")
    assert response.status_code == 302
    sweep.refresh_from_db()
    assert sweep.status == "cancelled"
    assert set(Run.objects.values_list("status", flat=True)) == {"cancelled"}
    assert alice_client.get(f"/sweeps/{sweep.pk}/cancel").status_code == 405


def test_another_user_gets_404_everywhere_and_changes_nothing(
    alice, mallory_client, scenario
):
    sweep = sweep_create(owner=alice, scenario=scenario,
                         version=scenario.latest_version, kind="sweep",
                         vary="workload.rps", values=[100])  # fmt: skip
    for url in (
        f"/sweeps/{sweep.pk}/",
        f"/sweeps/{sweep.pk}/data.json",
        f"/sweeps/{sweep.pk}/points.csv",
        f"/scenarios/{scenario.pk}/sweeps/",
        f"/scenarios/{scenario.pk}/sweeps/new/",
        f"/sweeps/{2**63 - 1}/",
        f"/sweeps/{2**70}/",
    ):
        assert mallory_client.get(url).status_code == 404, url
    assert mallory_client.post(f"/sweeps/{sweep.pk}/cancel").status_code == 404
    response = _start(mallory_client, scenario, vary="workload.rps", kind="sweep",
                      values="1")  # fmt: skip
    assert response.status_code == 404
    sweep.refresh_from_db()
    assert sweep.status == "queued" and Sweep.objects.count() == 1


def test_a_team_viewer_sees_a_sweep_but_cannot_start_or_cancel_one(
    alice, team, dave_client, carol_client
):
    scenario = scenario_create(owner=alice, text=DOC, team=team)
    sweep = sweep_create(owner=alice, scenario=scenario,
                         version=scenario.latest_version, kind="sweep",
                         vary="workload.rps", values=[100])  # fmt: skip
    assert dave_client.get(f"/sweeps/{sweep.pk}/").status_code == 200
    assert b"sweep-cancel" not in dave_client.get(f"/sweeps/{sweep.pk}/").content
    assert dave_client.get(f"/scenarios/{scenario.pk}/sweeps/").status_code == 200
    assert dave_client.get(f"/scenarios/{scenario.pk}/sweeps/new/").status_code == 403
    assert _start(dave_client, scenario, vary="workload.rps", kind="sweep",
                  values="1").status_code == 403  # fmt: skip
    assert dave_client.post(f"/sweeps/{sweep.pk}/cancel").status_code == 403
    sweep.refresh_from_db()
    assert sweep.status == "queued" and Sweep.objects.count() == 1
    # An editor of the team may.
    assert carol_client.post(f"/sweeps/{sweep.pk}/cancel").status_code == 302
    sweep.refresh_from_db()
    assert sweep.status == "cancelled"


def test_an_example_cannot_be_swept_but_a_copy_can(alice_client, alice):
    from dashboard.scenarios.services import example_upsert

    example, _ = example_upsert(slug="sweep-example", text=DOC)
    assert alice_client.get(f"/scenarios/{example.pk}/sweeps/new/").status_code == 403


def test_shared_sweep_pages_are_read_only(alice, scenario, queued):
    sweep = sweep_create(owner=alice, scenario=scenario,
                         version=scenario.latest_version, kind="sweep",
                         vary="workload.rps", values=[100, 200])  # fmt: skip
    other = scenario_create(owner=alice, text=DOC)
    foreign = sweep_create(owner=alice, scenario=other,
                           version=other.latest_version, kind="sweep",
                           vary="workload.rps", values=[100])  # fmt: skip
    _link, token = share_link_create(scenario=scenario, created_by=alice)
    drain(queued)
    anon = Client()
    page = anon.get(f"/s/{token}/sweeps/{sweep.pk}/")
    assert page.status_code == 200
    assert b"sweep-cancel" not in page.content
    data = anon.get(f"/s/{token}/sweeps/{sweep.pk}/data.json").json()
    assert data["status"] == "succeeded"
    assert data["series"]["a"][0]["url"].startswith(f"/s/{token}/runs/")
    assert anon.get(f"/s/{token}/sweeps/{sweep.pk}/points.csv").status_code == 200
    assert anon.post(f"/s/{token}/sweeps/{sweep.pk}/").status_code == 403
    assert anon.get(f"/s/{token}/sweeps/{foreign.pk}/").status_code == 404
    assert anon.get(f"/sweeps/{sweep.pk}/").status_code == 302  # login
