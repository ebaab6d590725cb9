"""The editor's Run: one parse, one transaction, and what "Save version" would store.

A run refused for any reason (the event budget, the snapshot budget, the per-user
limit, a document error, someone saved since) leaves neither a version nor a run.
"""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

import simengine
from dashboard.runs.models import Run
from tests.web.factories import SMALL_DOC, make_scenario

CHANGED = SMALL_DOC.replace("rps: 100", "rps: 150")
LAYOUT = {"positions": {"lb": {"x": 10.0, "y": 20.0}, "web": {"x": 230.0, "y": 20.0}}}


@pytest.fixture
def no_enqueue(monkeypatch) -> list:
    queued: list = []
    monkeypatch.setattr("dashboard.runs.services._enqueue", queued.append)
    return queued


@pytest.fixture
def parses(monkeypatch) -> list[str]:
    """Every `simengine.parse_document` call's text, in order."""
    seen: list[str] = []
    real = simengine.parse_document

    def spy(source, *args, **kwargs):
        seen.append(source if isinstance(source, str) else "<tree>")
        return real(source, *args, **kwargs)

    monkeypatch.setattr(simengine, "parse_document", spy)
    return seen


def _run(client, scenario, text: str, **fields):
    return client.post(
        reverse("scenario_run", args=[scenario.pk]), {"document": text, **fields}
    )


@pytest.mark.django_db
def test_a_successful_run_stores_exactly_one_version_and_one_run(
    alice, alice_client, no_enqueue, django_capture_on_commit_callbacks
):
    scenario = make_scenario(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = _run(
            alice_client,
            scenario,
            CHANGED,
            layout=json.dumps(LAYOUT),
            message="more load",
            base_version="1",
        )
    run = Run.objects.get(owner=alice)
    assert response.status_code == 302
    assert response["Location"] == reverse("run_detail", args=[run.pk])
    assert scenario.versions.count() == 2 and Run.objects.count() == 1
    version = scenario.latest_version
    assert run.version == version and run.document_text == CHANGED
    assert version.document_text == CHANGED
    assert version.message == "more load"
    assert no_enqueue == [run.pk]


@pytest.mark.django_db
def test_run_stores_the_posted_layout_as_save_version_does(
    alice, alice_client, no_enqueue
):
    scenario = make_scenario(alice)
    _run(alice_client, scenario, CHANGED, layout=json.dumps(LAYOUT))
    by_run = scenario.latest_version
    alice_client.post(
        reverse("scenario_detail", args=[scenario.pk]),
        {"document": CHANGED + "# saved\n", "layout": json.dumps(LAYOUT)},
    )
    by_save = scenario.latest_version
    assert by_run.number == 2 and by_save.number == 3
    assert by_run.layout == by_save.layout == LAYOUT


@pytest.mark.django_db
def test_first_run_records_the_drawn_layout_without_a_spurious_version(
    alice, alice_client, no_enqueue
):
    scenario = make_scenario(alice)  # v1 stored without a layout
    _run(alice_client, scenario, SMALL_DOC, layout=json.dumps(LAYOUT))
    # The positions the designer computed are recorded on v1; no "Saved to run" v2.
    assert scenario.versions.count() == 1
    v1 = scenario.latest_version
    assert v1.layout == LAYOUT
    assert Run.objects.get().version == v1
    # Run again with nothing changed: still no new version.
    _run(alice_client, scenario, SMALL_DOC, layout=json.dumps(LAYOUT))
    assert scenario.versions.count() == 1
    assert Run.objects.filter(version=v1).count() == 2


@pytest.mark.django_db
def test_moving_nodes_then_running_stores_the_new_positions(
    alice, alice_client, no_enqueue
):
    scenario = make_scenario(alice)
    _run(alice_client, scenario, SMALL_DOC, layout=json.dumps(LAYOUT))
    moved = {
        "positions": {
            k: {"x": v["x"] + 50, "y": v["y"]} for k, v in LAYOUT["positions"].items()
        }
    }
    _run(alice_client, scenario, SMALL_DOC, layout=json.dumps(moved))
    assert scenario.versions.count() == 2
    assert scenario.latest_version.document_text == SMALL_DOC
    assert scenario.latest_version.layout == moved
    assert scenario.versions.get(number=1).layout == LAYOUT


@pytest.mark.django_db
def test_run_parses_the_document_once_per_request(
    alice, alice_client, no_enqueue, parses
):
    scenario = make_scenario(alice)
    parses.clear()
    response = _run(alice_client, scenario, CHANGED, layout=json.dumps(LAYOUT))
    assert response.status_code == 302
    assert parses == [CHANGED]


@pytest.mark.django_db
def test_a_run_over_the_web_event_budget_leaves_no_version(
    alice, alice_client, settings, no_enqueue
):
    # Within the engine's own limits, so "Save version" would store it: only the
    # web's run budget refuses it.
    settings.RUN_MAX_EVENTS = 10_000
    scenario = make_scenario(alice)
    response = _run(alice_client, scenario, CHANGED)
    assert response.status_code == 400
    assert b"max_events" in response.content
    assert scenario.versions.count() == 1 and Run.objects.count() == 0


@pytest.mark.django_db
def test_a_run_over_the_snapshot_budget_leaves_no_version(
    alice, alice_client, settings, no_enqueue
):
    settings.RUN_MAX_SNAPSHOTS = 100
    scenario = make_scenario(alice)
    many = SMALL_DOC.replace("snapshot_s: 1", "snapshot_s: 0.1")  # 220 snapshots
    response = _run(alice_client, scenario, many)
    assert response.status_code == 400
    assert b"RUN_MAX_SNAPSHOTS" in response.content
    assert scenario.versions.count() == 1 and Run.objects.count() == 0


@pytest.mark.django_db
def test_a_run_refused_at_the_active_run_limit_leaves_no_version(
    alice, alice_client, settings, no_enqueue
):
    settings.RUNS_ACTIVE_PER_USER = 1
    scenario = make_scenario(alice)
    assert _run(alice_client, scenario, SMALL_DOC).status_code == 302
    response = _run(alice_client, scenario, CHANGED, layout=json.dumps(LAYOUT))
    assert response.status_code == 429
    assert b"runs queued or running" in response.content
    assert CHANGED.encode() in response.content  # the user's text is kept
    assert scenario.versions.count() == 1 and Run.objects.count() == 1


@pytest.mark.django_db
def test_a_run_based_on_an_old_version_is_a_conflict_and_saves_nothing(
    alice, alice_client, no_enqueue
):
    scenario = make_scenario(alice)
    alice_client.post(
        reverse("scenario_detail", args=[scenario.pk]),
        {"document": CHANGED, "base_version": "1"},
    )
    response = _run(alice_client, scenario, SMALL_DOC + "# mine\n", base_version="1")
    assert response.status_code == 409
    assert b'data-testid="conflict"' in response.content
    assert scenario.versions.count() == 2 and Run.objects.count() == 0


@pytest.mark.django_db
def test_run_with_unreadable_yaml_shows_the_editor_the_error_and_the_last_canvas(
    alice, alice_client, no_enqueue
):
    scenario = make_scenario(alice)
    alice_client.post(
        reverse("scenario_detail", args=[scenario.pk]),
        {"document": SMALL_DOC, "layout": json.dumps(LAYOUT)},
    )
    unreadable = "scaleboard: 1\ncomponents: [\n"
    response = _run(alice_client, scenario, unreadable, layout=json.dumps(LAYOUT))
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="editor"' in page and "scaleboard: 1\ncomponents: [" in page
    assert '<ul class="errors" role="alert">' in page
    # The canvas draws the last readable version (positions too) instead of nothing.
    fallback = page.split('<script id="designer-fallback" type="application/json">')
    assert len(fallback) == 2
    assert json.loads(fallback[1].split("</script>")[0]) == SMALL_DOC
    layout = page.split('<script id="designer-layout" type="application/json">')[1]
    assert json.loads(layout.split("</script>")[0]) == LAYOUT
    assert scenario.versions.count() == 2 and Run.objects.count() == 0
