"""The scenario pages: create, edit with field-path errors, versions, examples, Run."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from dashboard.runs.models import Run
from dashboard.scenarios.models import Scenario, ScenarioVersion
from dashboard.scenarios.services import example_upsert
from tests.web.factories import SMALL_DOC, make_scenario


@pytest.mark.django_db
def test_new_scenario_starts_with_a_valid_first_version(alice_client, alice):
    response = alice_client.post(reverse("scenario_new"), {"name": "Checkout"})
    scenario = Scenario.objects.get(owner=alice)
    assert scenario.name == "Checkout"
    assert response.status_code == 302
    assert response["Location"] == reverse("scenario_detail", args=[scenario.pk])
    assert scenario.versions.count() == 1
    page = alice_client.get(response["Location"])
    assert b"scaleboard: 1" in page.content


@pytest.mark.django_db
def test_saving_an_invalid_document_names_the_field_and_saves_nothing(
    alice_client, alice
):
    scenario = make_scenario(alice)
    bad = SMALL_DOC.replace("instances: 2", "instances: 0")
    response = alice_client.post(
        reverse("scenario_detail", args=[scenario.pk]), {"document": bad}
    )
    assert response.status_code == 400
    assert b"components.web.instances" in response.content
    assert scenario.versions.count() == 1
    # The user's text is kept in the editor, not lost.
    assert b"instances: 0" in response.content


@pytest.mark.django_db
def test_validate_endpoint_reports_errors_for_htmx_without_saving(alice_client, alice):
    scenario = make_scenario(alice)
    url = reverse("scenario_validate", args=[scenario.pk])
    bad = alice_client.post(
        url, {"document": "scaleboard: 1\nnope: 3\n"}, HTTP_HX_REQUEST="true"
    )
    assert bad.status_code == 200
    assert b'id="validation"' in bad.content and b"nope" in bad.content
    good = alice_client.post(url, {"document": SMALL_DOC}, HTTP_HX_REQUEST="true")
    assert b"Valid document" in good.content
    assert scenario.versions.count() == 1


@pytest.mark.django_db
def test_each_save_is_a_new_retrievable_version(alice_client, alice):
    scenario = make_scenario(alice)
    texts = [SMALL_DOC.replace("rps: 100", f"rps: {100 + i}") for i in range(1, 4)]
    for i, text in enumerate(texts):
        alice_client.post(
            reverse("scenario_detail", args=[scenario.pk]),
            {"document": text, "message": f"edit {i}"},
        )
    numbers = list(
        scenario.versions.order_by("number").values_list("number", flat=True)
    )
    assert numbers == [1, 2, 3, 4]
    page = alice_client.get(reverse("scenario_version", args=[scenario.pk, 3]))
    assert page.status_code == 200 and b"rps: 102" in page.content
    assert ScenarioVersion.objects.get(scenario=scenario, number=4).message == "edit 2"


@pytest.mark.django_db
def test_opening_an_example_makes_a_private_copy(alice_client, alice):
    example, _ = example_upsert(slug="small", text=SMALL_DOC)
    listing = alice_client.get(reverse("scenario_list"))
    assert b"Small web tier" in listing.content
    response = alice_client.post(reverse("example_copy", args=["small"]))
    copy = Scenario.objects.get(owner=alice)
    assert response["Location"] == reverse("scenario_detail", args=[copy.pk])
    assert copy.latest_version.document_text == SMALL_DOC
    assert example.versions.count() == 1 and not example.owner


@pytest.mark.django_db
def test_run_saves_a_changed_document_then_queues_a_run(
    alice_client, alice, django_capture_on_commit_callbacks, monkeypatch
):
    queued = []
    monkeypatch.setattr("dashboard.runs.services._enqueue", queued.append)
    scenario = make_scenario(alice)
    changed = SMALL_DOC.replace("rps: 100", "rps: 150")
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(
            reverse("scenario_run", args=[scenario.pk]), {"document": changed}
        )
    run = Run.objects.get(owner=alice)
    assert response.status_code == 302
    assert response["Location"] == reverse("run_detail", args=[run.pk])
    assert run.status == Run.Status.QUEUED
    assert run.version.number == 2 and run.document_text == changed
    assert queued == [run.pk]


@pytest.mark.django_db
def test_run_of_an_invalid_document_is_refused_and_nothing_is_saved(
    alice_client, alice
):
    scenario = make_scenario(alice)
    bad = SMALL_DOC.replace("rps: 100", "rps: -5")
    response = alice_client.post(
        reverse("scenario_run", args=[scenario.pk]), {"document": bad}
    )
    assert response.status_code == 400
    assert b"workload.rps" in response.content
    assert Run.objects.count() == 0 and scenario.versions.count() == 1


@pytest.mark.django_db
def test_too_many_active_runs_are_refused_with_429(
    alice_client, alice, settings, monkeypatch
):
    monkeypatch.setattr("dashboard.runs.services._enqueue", lambda run_id: None)
    settings.RUNS_ACTIVE_PER_USER = 2
    scenario = make_scenario(alice)
    url = reverse("scenario_run", args=[scenario.pk])
    codes = [
        alice_client.post(url, {"document": SMALL_DOC}).status_code for _ in range(3)
    ]
    assert codes == [302, 302, 429]
    assert Run.objects.filter(owner=alice).count() == 2


@pytest.mark.django_db
def test_bad_documents_never_cause_a_server_error(alice_client, alice):
    scenario = make_scenario(alice)
    url = reverse("scenario_detail", args=[scenario.pk])
    nasty = [
        "",
        "[" * 5000 + "]" * 5000,
        "a: " + "{b: " * 3000 + "1" + "}" * 3000,
        "x" * 1_100_000,
        "\x00\x01\x02",
        "scaleboard: 1\nworkload: {rps: .nan}\n",
        "- just\n- a list\n",
        "{'json': ",
    ]
    for text in nasty:
        response = alice_client.post(url, {"document": text})
        assert response.status_code == 400, text[:40]
    assert scenario.versions.count() == 1


@pytest.mark.django_db
def test_a_run_too_big_for_the_event_budget_is_refused_up_front(alice_client, alice):
    scenario = make_scenario(alice)
    huge = SMALL_DOC.replace("rps: 100", "rps: 1000000").replace(
        "duration_s: 20", "duration_s: 1000000"
    )
    response = alice_client.post(
        reverse("scenario_run", args=[scenario.pk]), {"document": huge}
    )
    assert response.status_code == 400
    assert b"limit" in response.content
    assert Run.objects.count() == 0


@pytest.mark.django_db
def test_a_run_with_too_many_snapshots_for_its_page_is_refused(
    alice_client, alice, settings
):
    settings.RUN_MAX_SNAPSHOTS = 100
    scenario = make_scenario(alice)
    fine = SMALL_DOC.replace("snapshot_s: 1", "snapshot_s: 0.5")  # 44 snapshots
    many = SMALL_DOC.replace("snapshot_s: 1", "snapshot_s: 0.1")  # 220 snapshots
    url = reverse("scenario_run", args=[scenario.pk])
    response = alice_client.post(url, {"document": many})
    assert response.status_code == 400
    assert b"simulation.snapshot_s" in response.content
    assert b"RUN_MAX_SNAPSHOTS" in response.content
    assert Run.objects.count() == 0
    assert alice_client.post(url, {"document": fine}).status_code == 302


@pytest.mark.django_db
def test_two_racing_saves_of_one_version_one_wins_the_other_gets_409(alice):
    """Reliability row 13: nothing lost; the loser keeps its text and may save again."""
    scenario = make_scenario(alice)
    url = reverse("scenario_detail", args=[scenario.pk])
    first, second = Client(), Client()
    first.force_login(alice)
    second.force_login(alice)
    assert b'name="base_version" value="1"' in first.get(url).content
    mine = SMALL_DOC.replace("rps: 100", "rps: 111")
    theirs = SMALL_DOC.replace("rps: 100", "rps: 222")
    won = first.post(url, {"document": mine, "base_version": "1", "message": "mine"})
    lost = second.post(url, {"document": theirs, "base_version": "1"})
    assert won.status_code == 302
    assert lost.status_code == 409
    assert b"rps: 222" in lost.content and b'data-testid="conflict"' in lost.content
    assert b'name="base_version" value="2"' in lost.content
    assert list(scenario.versions.values_list("number", flat=True)) == [2, 1]
    again = second.post(url, {"document": theirs, "base_version": "2"})
    assert again.status_code == 302
    texts = dict(scenario.versions.values_list("number", "document_text"))
    assert texts[2] == mine and texts[3] == theirs


@pytest.mark.django_db
def test_n_edits_give_n_plus_one_retrievable_versions(alice_client, alice):
    scenario = make_scenario(alice)
    url = reverse("scenario_detail", args=[scenario.pk])
    for n in range(1, 6):
        text = SMALL_DOC.replace("rps: 100", f"rps: {100 + n}")
        response = alice_client.post(url, {"document": text, "base_version": str(n)})
        assert response.status_code == 302
    for n in range(1, 7):
        page = alice_client.get(reverse("scenario_version", args=[scenario.pk, n]))
        assert page.status_code == 200
        assert f"rps: {100 + n - 1 if n > 1 else 100}".encode() in page.content
