"""Verdicts, the run history (filters, pages, who sees what) and deleting a run.

The reports are real: SMALL_DOC simulated once per module, then given the failures or
objectives a case needs, as the engine writes them.
"""

from __future__ import annotations

import copy
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import clear_url_caches, reverse

import simengine
from dashboard.reviews.models import Comment
from dashboard.runs import selectors
from dashboard.runs.models import Run, RunPart, RunSnapshot
from dashboard.runs.verdicts import OK, WARN, run_verdict
from tests.web.factories import SMALL_DOC, make_run, make_scenario


@pytest.fixture(scope="module")
def real_report() -> dict:
    return simengine.simulate(simengine.parse_document(SMALL_DOC), seed=1)


def finished(owner, scenario=None, *, report, status=Run.Status.SUCCEEDED, **fields):
    run = make_run(owner, scenario, status=status)
    run.report = report
    for name, value in fields.items():
        setattr(run, name, value)
    run.save()
    return run


def with_failures(report: dict, *, errors=0, timeouts=0, rejected=0) -> dict:
    report = copy.deepcopy(report)
    req = report["requests"]
    req.update(errors=errors, timeouts=timeouts, rejected=rejected, offered=1000)
    return report


def with_objectives(report: dict, met: list[bool]) -> dict:
    report = copy.deepcopy(report)
    checks = [
        {"objective": "latency_ms.p99", "bound": "max", "limit": 1.0, "value": 2.0}
        for _ in met
    ]
    for check, ok in zip(checks, met, strict=True):
        check["met"] = ok
    report["objectives"] = {"met": all(met), "checks": checks}
    return report


# --- Verdicts -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_clean_succeeded_run_is_ok_and_counts_its_objectives(alice, real_report):
    run = finished(alice, report=with_objectives(real_report, [True, True, True]))
    verdict = run_verdict(run)
    assert verdict.level == OK and not verdict.degraded
    assert verdict.label == "succeeded \u00b7 objectives 3 of 3 met"
    assert verdict.error_rate == 0.0
    plain = run_verdict(finished(alice, report=real_report))
    assert plain.label == "succeeded" and plain.qualifier == "" and plain.level == OK


@pytest.mark.django_db
def test_a_run_losing_more_than_the_threshold_is_degraded(alice, real_report, settings):
    run = finished(alice, report=with_failures(real_report, errors=100, timeouts=40))
    verdict = run_verdict(run)
    assert verdict.degraded and verdict.level == WARN
    assert verdict.label == "succeeded \u00b7 degraded: 14% failed"
    assert verdict.error_rate == pytest.approx(0.14)
    assert "timed out" in verdict.details[0]  # 4% timed out: past 1% alone
    settings.RUN_DEGRADED_ERROR_RATE = 0.2
    assert not run_verdict(run).degraded
    assert run_verdict(run).label == "succeeded"
    # Just under the default threshold is healthy; rejections count as failures.
    settings.RUN_DEGRADED_ERROR_RATE = 0.01
    under = finished(alice, report=with_failures(real_report, rejected=10))
    assert not run_verdict(under).degraded
    over = finished(alice, report=with_failures(real_report, rejected=11))
    assert run_verdict(over).label == "succeeded \u00b7 degraded: 1.1% failed"


@pytest.mark.django_db
def test_missed_objectives_are_counted_k_of_n(alice, real_report):
    run = finished(alice, report=with_objectives(real_report, [True, False, True]))
    verdict = run_verdict(run)
    assert verdict.label == "succeeded \u00b7 objectives 2 of 3 met"
    assert verdict.level == WARN and not verdict.degraded
    assert (verdict.objectives_met, verdict.objectives_total) == (2, 3)


@pytest.mark.django_db
def test_a_cancelled_run_with_a_partial_report_says_how_much(alice, real_report):
    report = copy.deepcopy(real_report)
    report["partial"] = {
        "replications_complete": 3,
        "replications_planned": 10,
        "measured_s": 18.0,
    }
    run = finished(alice, report=report, status=Run.Status.CANCELLED)
    verdict = run_verdict(run)
    assert verdict.label == "cancelled \u00b7 partial report"
    assert verdict.partial == "partial: 3 of 10 replications"
    assert verdict.partial in verdict.details

    report["partial"] = {
        "replications_complete": 0,
        "replications_planned": 1,
        "measured_s": 42.0,
    }
    text = SMALL_DOC.replace("duration_s: 20", "duration_s: 120")
    run = finished(
        alice, report=report, status=Run.Status.CANCELLED, document_text=text
    )
    assert run_verdict(run).partial == "measured 42 s of 120"
    bare = make_run(alice, status=Run.Status.CANCELLED)
    assert run_verdict(bare).label == "cancelled"


@pytest.mark.django_db
def test_failed_and_active_runs(alice):
    failed = make_run(alice, status=Run.Status.FAILED)
    assert run_verdict(failed).label == "failed" and run_verdict(failed).level == "bad"
    assert run_verdict(make_run(alice)) is None
    assert run_verdict(make_run(alice, status=Run.Status.RUNNING)) is None


@pytest.mark.django_db
def test_the_list_judges_from_annotations_without_loading_a_report(alice, real_report):
    runs = [
        finished(alice, report=with_failures(real_report, errors=100, timeouts=40)),
        finished(alice, report=with_objectives(real_report, [True, False])),
        finished(alice, report=real_report),
        make_run(alice, status=Run.Status.FAILED),
    ]
    listed = {r.pk: r for r in selectors.run_history_for_user(user=alice, status="all")}
    whole = {run.pk: run_verdict(Run.objects.get(pk=run.pk)) for run in runs}
    with CaptureQueriesContext(connection) as queries:
        for run in runs:
            row = listed[run.pk]
            assert "report" in row.get_deferred_fields()
            assert run_verdict(row) == whole[run.pk]
    assert len(queries) == 0
    assert [whole[r.pk].label for r in runs] == [
        "succeeded \u00b7 degraded: 14% failed",
        "succeeded \u00b7 objectives 1 of 2 met",
        "succeeded",
        "failed",
    ]


# --- The history ----------------------------------------------------------------------


def _ids(response) -> set[uuid.UUID]:
    return {r.pk for r in response.context["runs"]}


@pytest.mark.django_db
def test_the_history_filters_by_status_and_scenario(
    alice, bob, alice_client, real_report
):
    first, second = make_scenario(alice), make_scenario(alice)
    ok = finished(alice, first, report=real_report)
    degraded = finished(alice, first, report=with_failures(real_report, errors=200))
    failed = make_run(alice, second, status=Run.Status.FAILED)
    cancelled = make_run(alice, second, status=Run.Status.CANCELLED)
    queued = make_run(alice, first)
    running = make_run(alice, second, status=Run.Status.RUNNING)
    finished(bob, make_scenario(bob), report=real_report)  # never alice's

    url = reverse("run_list")
    expected = {
        "all": {ok, degraded, failed, cancelled, queued, running},
        "active": {queued, running},
        "succeeded": {ok, degraded},
        "degraded": {degraded},
        "failed": {failed},
        "cancelled": {cancelled},
    }
    for status, runs in expected.items():
        response = alice_client.get(url, {"status": status})
        assert response.status_code == 200, status
        assert _ids(response) == {r.pk for r in runs}, status
    response = alice_client.get(url, {"scenario": first.pk})
    assert _ids(response) == {ok.pk, degraded.pk, queued.pk}
    response = alice_client.get(url, {"scenario": second.pk, "status": "active"})
    assert _ids(response) == {running.pk}

    page = alice_client.get(url).content.decode()
    row = page[page.index(f'data-run="{degraded.pk}"') :].split("</tr>")[0]
    assert "degraded: 20% failed" in row and 'data-testid="run-verdict"' in row
    assert "20%" in row and f"/runs/{degraded.pk}/summary/" in row
    assert "alice" in row


@pytest.mark.django_db
def test_bad_filters_are_a_400_naming_the_field(alice, bob, alice_client):
    url = reverse("run_list")
    for params, field in (
        ({"status": "done"}, "status:"),
        ({"scenario": "x"}, "scenario:"),
        ({"scenario": "-3"}, "scenario:"),
        ({"page": "two"}, "page:"),
        ({"page": "0"}, "page:"),
        ({"status": "all\x00"}, "status:"),
    ):
        response = alice_client.get(url, params)
        assert response.status_code == 400, params
        assert response.content.decode().startswith(field), params
    theirs = make_scenario(bob)
    assert alice_client.get(url, {"scenario": theirs.pk}).status_code == 404
    assert alice_client.get(url, {"scenario": 999999}).status_code == 404


@pytest.mark.django_db
def test_the_history_is_paged_fifty_at_a_time(alice, alice_client, real_report):
    scenario = make_scenario(alice)
    runs = [finished(alice, scenario, report=real_report) for _ in range(120)]
    url = reverse("run_list")
    first = alice_client.get(url)
    assert len(first.context["runs"]) == 50
    assert first.context["page"].paginator.num_pages == 3
    assert "page=2" in first.content.decode()
    third = alice_client.get(url, {"page": 3, "scenario": scenario.pk})
    assert len(third.context["runs"]) == 20
    assert f"scenario={scenario.pk}&amp;page=2" in third.content.decode()
    seen = set()
    for number in (1, 2, 3):
        seen |= _ids(alice_client.get(url, {"page": number}))
    assert seen == {r.pk for r in runs}
    # Past the end: the last page.
    assert _ids(alice_client.get(url, {"page": 99})) == _ids(third)


@pytest.mark.django_db
def test_a_page_of_the_history_costs_a_bounded_number_of_queries(
    alice, carol, team, alice_client, carol_client, real_report
):
    from dashboard.scenarios.services import scenario_create

    scenarios = [make_scenario(alice) for _ in range(3)]
    scenarios += [scenario_create(owner=alice, text=SMALL_DOC, team=team)]
    for i in range(60):
        finished(alice, scenarios[i % 4], report=real_report)
    for client in (alice_client, carol_client):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("run_list"))
        assert response.status_code == 200
        assert len(queries) <= 12, [q["sql"][:120] for q in queries]
        # No report is read: the rows hold the figures the database read out.
        rows = response.context["runs"]
        assert len(rows) == (50 if client is alice_client else 15)  # carol: the team
        assert all("report" in r.get_deferred_fields() for r in rows)
        assert all(r.throughput_rps == real_report["throughput_rps"] for r in rows)


@pytest.mark.django_db
def test_delete_shows_only_to_those_who_may(
    alice, carol, dave, team_scenario, alice_client, carol_client, dave_client
):
    run = Run.objects.get(scenario=team_scenario)
    for client, shown in (
        (alice_client, True),
        (carol_client, True),
        (dave_client, False),
    ):
        page = client.get(reverse("run_list")).content.decode()
        row = page[page.index(f'data-run="{run.pk}"') :].split("</tr>")[0]
        assert ('data-testid="delete-link"' in row) is shown
    page = dave_client.get(reverse("run_list")).content.decode()
    assert "Editors and owners of a run" in page


@pytest.mark.django_db
def test_the_scenario_page_shows_its_run_history_with_verdicts(
    alice, alice_client, real_report
):
    scenario = make_scenario(alice)
    run = finished(alice, scenario, report=with_failures(real_report, timeouts=300))
    page = alice_client.get(reverse("scenario_detail", args=[scenario.pk]))
    html = page.content.decode()
    section = html[html.index('data-testid="scenario-run-history"') :]
    section = section[: section.index("</section>")]
    assert "degraded: 30% failed" in section
    assert f"/runs/{run.pk}/summary/" in section
    assert f'name="scenario" value="{scenario.pk}"' in section


# --- Delete ---------------------------------------------------------------------------


def _with_parts(run: Run) -> Run:
    for seq in range(5):
        RunSnapshot.objects.create(run=run, seq=seq, data={"seq": seq})
    RunPart.objects.create(run=run, replication=0, status="succeeded")
    return run


@pytest.mark.django_db
def test_the_owner_deletes_a_run_and_its_snapshots_go_with_it(
    alice, alice_client, real_report
):
    scenario = make_scenario(alice)
    run = _with_parts(finished(alice, scenario, report=real_report))
    other = _with_parts(finished(alice, scenario, report=real_report))
    comment = Comment.objects.create(
        version=scenario.latest_version, author=alice, body="see this run", run=run
    )
    url = reverse("run_delete", args=[run.pk])
    confirm = alice_client.get(url)
    assert confirm.status_code == 200
    assert "5 stored snapshots" in confirm.content.decode()
    assert alice_client.post(url).status_code == 400  # no confirm=yes
    assert Run.objects.filter(pk=run.pk).exists()
    response = alice_client.post(url, {"confirm": "yes"})
    assert response.status_code == 302
    assert response["Location"] == reverse("run_list") + f"?scenario={scenario.pk}"
    assert not Run.objects.filter(pk=run.pk).exists()
    assert not RunSnapshot.objects.filter(run_id=run.pk).exists()
    assert not RunPart.objects.filter(run_id=run.pk).exists()
    comment.refresh_from_db()
    assert comment.run_id is None and comment.body == "see this run"
    assert RunSnapshot.objects.filter(run=other).count() == 5
    assert alice_client.post(url, {"confirm": "yes"}).status_code == 404


@pytest.mark.django_db
def test_who_may_delete_a_team_run(
    team_scenario, carol_client, dave_client, mallory_client, alice, real_report
):
    runs = [finished(alice, team_scenario, report=real_report) for _ in range(2)]
    for run in runs:
        _with_parts(run)
    url = reverse("run_delete", args=[runs[0].pk])
    assert mallory_client.get(url).status_code == 404
    assert mallory_client.post(url, {"confirm": "yes"}).status_code == 404
    assert dave_client.get(url).status_code == 403  # a viewer
    assert dave_client.post(url, {"confirm": "yes"}).status_code == 403
    assert Run.objects.filter(pk=runs[0].pk).exists()
    assert RunSnapshot.objects.filter(run=runs[0]).count() == 5
    assert carol_client.post(url, {"confirm": "yes"}).status_code == 302  # an editor
    assert not Run.objects.filter(pk=runs[0].pk).exists()


@pytest.mark.django_db
def test_an_active_run_must_be_cancelled_before_it_is_deleted(alice, alice_client):
    for status in (Run.Status.QUEUED, Run.Status.RUNNING):
        run = _with_parts(make_run(alice, make_scenario(alice), status=status))
        url = reverse("run_delete", args=[run.pk])
        page = alice_client.get(url)
        assert page.status_code == 200 and "cancel it first" in page.content.decode()
        response = alice_client.post(url, {"confirm": "yes"})
        assert response.status_code == 409
        assert f"This run is {status}: cancel it first" in response.content.decode()
        assert Run.objects.filter(pk=run.pk).exists()
        assert RunSnapshot.objects.filter(run=run).count() == 5


# --- "Run again" (whatif_views.run_again_view): editors see it; no URL, no button ----


def _without_run_again():
    """The project's URLs without `run_again`: what the history drew before it existed."""
    from django.urls import URLResolver

    from dashboard import urls as project
    from dashboard.runs import urls as runs

    kept = [p for p in runs.urlpatterns if p.name != "run_again"]
    others = [
        p
        for p in project.urlpatterns
        if not (isinstance(p, URLResolver) and p.urlconf_module is runs)
    ]
    return kept + others


urlpatterns = _without_run_again()


@pytest.mark.django_db
def test_run_again_shows_to_editors_and_never_breaks_the_list(
    alice, team_scenario, alice_client, dave_client, settings, real_report
):
    run = finished(alice, team_scenario, report=real_report)
    page = alice_client.get(reverse("run_list")).content.decode()
    row = page[page.index(f'data-run="{run.pk}"') :].split("</tr>")[0]
    again = reverse("run_again", args=[run.pk])
    assert f'action="{again}"' in row and "Run again" in row
    page = dave_client.get(reverse("run_list")).content.decode()  # a viewer
    row = page[page.index(f'data-run="{run.pk}"') :].split("</tr>")[0]
    assert "Run again" not in row
    settings.ROOT_URLCONF = __name__  # a main without the run_again URL
    clear_url_caches()
    try:
        page = alice_client.get(reverse("run_list"))
        assert page.status_code == 200 and "Run again" not in page.content.decode()
    finally:
        clear_url_caches()


def test_the_degraded_threshold_is_a_number_from_0_to_1(monkeypatch):
    from dashboard.env import ImproperSetting, envfloat

    name = "RUN_DEGRADED_ERROR_RATE"
    monkeypatch.delenv(name, raising=False)
    assert envfloat(name, 0.01, minimum=0.0, maximum=1.0) == 0.01
    monkeypatch.setenv(name, "0.05")
    assert envfloat(name, 0.01, minimum=0.0, maximum=1.0) == 0.05
    for bad in ("five", "nan", "-0.1", "1.5"):
        monkeypatch.setenv(name, bad)
        with pytest.raises(ImproperSetting, match=name):
            envfloat(name, 0.01, minimum=0.0, maximum=1.0)


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_deletes_of_one_run_never_fail(alice, real_report):
    import threading
    from collections import Counter

    from django.test import Client

    run = _with_parts(finished(alice, make_scenario(alice), report=real_report))
    keep = _with_parts(finished(alice, make_scenario(alice), report=real_report))
    url = reverse("run_delete", args=[run.pk])
    barrier = threading.Barrier(50)
    outcomes: Counter = Counter()
    lock = threading.Lock()

    def one() -> None:
        client = Client()
        client.force_login(alice)
        try:
            barrier.wait()
            result = client.post(url, {"confirm": "yes"}).status_code
        except Exception as exc:
            result = type(exc).__name__
        finally:
            connection.close()
        with lock:
            outcomes[result] += 1

    threads = [threading.Thread(target=one) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert set(outcomes) <= {302, 404} and outcomes[302] >= 1, outcomes
    assert sum(outcomes.values()) == 50
    assert not Run.objects.filter(pk=run.pk).exists()
    assert not RunSnapshot.objects.filter(run_id=run.pk).exists()
    assert RunSnapshot.objects.filter(run=keep).count() == 5
