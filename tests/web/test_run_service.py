"""Run execution as a worker does it, without Celery: states, snapshots, reaping."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
from django.db import close_old_connections
from django.utils import timezone

from dashboard.runs import execution, services
from dashboard.runs.models import Run, RunSnapshot
from tests.web.factories import SMALL_DOC, long_doc, make_run, make_scenario


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch):
    queued = []
    monkeypatch.setattr("dashboard.runs.services._enqueue", queued.append)
    return queued


@pytest.mark.django_db
def test_run_execute_takes_a_queued_run_to_succeeded_with_report_and_snapshots(alice):
    run = make_run(alice, make_scenario(alice))
    assert execution.run_execute(run_id=run.pk, worker="test") == Run.Status.SUCCEEDED
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED and run.attempts == 1
    assert run.started_at <= run.finished_at
    assert run.report["requests"]["completed"] > 0
    assert set(run.report["latency_ms"]) >= {"mean", "p50", "p90", "p95", "p99", "max"}
    seqs = list(RunSnapshot.objects.filter(run=run).values_list("seq", flat=True))
    assert seqs == list(range(len(seqs))) and len(seqs) >= 20
    assert run.last_seq == seqs[-1]


@pytest.mark.django_db
def test_a_run_that_is_not_queued_is_left_alone(alice):
    run = make_run(alice, status=Run.Status.CANCELLED)
    assert execution.run_execute(run_id=run.pk) == "skipped"
    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED and run.attempts == 0


@pytest.mark.django_db
def test_an_invalid_stored_document_fails_the_run_with_its_field_path(alice):
    run = make_run(alice, text="scaleboard: 1\nworkload: {rps: -1}\n")
    assert execution.run_execute(run_id=run.pk) == Run.Status.FAILED
    run.refresh_from_db()
    assert "workload" in run.error


@pytest.mark.django_db
def test_stale_running_run_is_retried_then_failed_after_max_attempts(
    alice, settings, no_enqueue
):
    settings.RUN_MAX_ATTEMPTS = 2
    old = timezone.now() - timezone.timedelta(seconds=settings.RUN_STALE_AFTER_S + 5)
    run = make_run(alice, status=Run.Status.RUNNING)
    Run.objects.filter(pk=run.pk).update(
        heartbeat_at=old, attempts=1, attempt_token=uuid.uuid4()
    )
    assert services.runs_reap_stale() == {"retried": 1, "failed": 0, "resent": 0}
    run.refresh_from_db()
    assert run.status == Run.Status.QUEUED and no_enqueue == [run.pk]
    Run.objects.filter(pk=run.pk).update(
        status=Run.Status.RUNNING,
        heartbeat_at=old,
        attempts=2,
        attempt_token=uuid.uuid4(),
    )
    assert services.runs_reap_stale() == {"retried": 0, "failed": 1, "resent": 0}
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED and "stopped" in run.error


@pytest.mark.django_db
def test_fresh_heartbeat_is_not_reaped(alice):
    run = make_run(alice, status=Run.Status.RUNNING)
    Run.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now(), attempts=1)
    assert services.runs_reap_stale() == {"retried": 0, "failed": 0, "resent": 0}


def _execute_in_background(run) -> tuple[threading.Thread, dict]:
    """Run `run_execute` in a thread, as a worker would; return once it streams."""
    result = {}

    def work():
        try:
            result["status"] = execution.run_execute(run_id=run.pk)
        finally:
            close_old_connections()

    thread = threading.Thread(target=work)
    thread.start()
    deadline = time.monotonic() + 30
    while Run.objects.get(pk=run.pk).last_seq < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    return thread, result


@pytest.mark.django_db(transaction=True)
def test_cancel_stops_a_running_simulation_at_its_next_heartbeat(alice):
    run = make_run(alice, text=long_doc())
    thread, result = _execute_in_background(run)
    assert services.run_cancel(run=Run.objects.get(pk=run.pk))
    thread.join(timeout=30)
    assert not thread.is_alive()
    run.refresh_from_db()
    assert result["status"] == Run.Status.CANCELLED == run.status
    # What was measured until the cancel is kept, marked partial.
    assert run.report["partial"]["replications_planned"] == 1
    assert run.report["partial"]["replications_complete"] == 0


@pytest.mark.django_db(transaction=True)
def test_a_worker_whose_run_was_taken_back_stops_and_writes_nothing(alice):
    """Never two copies: the reaper's new attempt token makes the old worker stop."""
    run = make_run(alice, text=long_doc())
    thread, result = _execute_in_background(run)
    # The reaper thought the worker dead and re-queued the run with a new attempt.
    Run.objects.filter(pk=run.pk).update(status=Run.Status.QUEUED, attempt_token=None)
    thread.join(timeout=30)
    assert not thread.is_alive()
    run.refresh_from_db()
    assert result["status"] == Run.Status.QUEUED == run.status
    assert run.report is None and run.finished_at is None


@pytest.mark.django_db
def test_a_run_queued_for_too_long_has_its_task_sent_again_once(
    alice, settings, no_enqueue
):
    fresh = make_run(alice)
    lost = make_run(alice)
    old = timezone.now() - timezone.timedelta(seconds=settings.RUN_REQUEUE_AFTER_S + 1)
    Run.objects.filter(pk=lost.pk).update(queued_at=old)
    assert services.runs_reap_stale()["resent"] == 1
    assert no_enqueue == [lost.pk]
    assert services.runs_reap_stale()["resent"] == 0  # not again until it is old again
    assert fresh.pk not in no_enqueue


CACHED_DOC = """\
scaleboard: 1
name: Cached reads
simulation: {duration_s: 20, warmup_s: 2, seed: 3, snapshot_s: 1}
workload: {target: web, rps: 200, read_ratio: 0.9, keys: {count: 1000, zipf_s: 0.9}}
components:
  web: {type: service, instances: 2, cores: 2, work_ms: 2, calls: [cache]}
  cache: {type: cache, capacity_keys: 300, ttl_s: 10, backing: db}
  db:
    type: database
    primary: {cores: 4}
    replicas: {count: 2, mode: async, reads: replicas}
"""


@pytest.mark.django_db
def test_the_run_page_shows_the_data_tier_a_user_switched_on(alice, alice_client):
    from django.urls import reverse

    run = make_run(alice, text=CACHED_DOC)
    assert execution.run_execute(run_id=run.pk) == Run.Status.SUCCEEDED
    run.refresh_from_db()
    client = alice_client
    page = client.get(reverse("run_detail", args=[run.pk])).content.decode()
    hit_ratio = run.report["components"]["cache"]["hit_ratio"]
    assert 0.3 < hit_ratio < 1.0
    assert f"{hit_ratio * 100:.1f}%" in page
    assert 'data-testid="database-db"' in page and "replica-1" in page
    assert "Replication lag" in page


BREAKER_DOC = """\
scaleboard: 1
name: Guarded search
simulation: {duration_s: 60, seed: 3, snapshot_s: 1}
workload: {target: web, rps: 50}
components:
  web:
    type: service
    cores: 4
    work_ms: 5
    calls:
      - {to: search, probability: 0.5, breaker: {error_rate: 0.5, open_s: 20}}
  search: {type: service, cores: 4, work_ms: 20}
faults:
  - {at_s: 10, component: search, for_s: 15}
"""


@pytest.mark.django_db
def test_the_run_page_shows_a_services_call_shares_and_breakers(alice, alice_client):
    from django.urls import reverse

    run = make_run(alice, text=BREAKER_DOC)
    assert execution.run_execute(run_id=run.pk) == Run.Status.SUCCEEDED
    run.refresh_from_db()
    web = run.report["components"]["web"]
    assert web["breakers"]["search"]["opened"] >= 1
    page = alice_client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert 'data-testid="calls-web"' in page and "Breaker on" in page
    assert f"{web['call_shares']['search']['share'] * 100:.1f}%" in page
    assert 'data-testid="calls-search"' not in page
    kinds = [e["kind"] for e in run.report["event_log"]]
    assert "breaker_opened" in kinds and "breaker_closed" in kinds


@pytest.mark.django_db
def test_reaping_one_run_leaves_the_others_to_the_workers(alice, settings, no_enqueue):
    old = timezone.now() - timezone.timedelta(seconds=settings.RUN_STALE_AFTER_S + 5)
    shown, other = (make_run(alice, status=Run.Status.RUNNING) for _ in range(2))
    Run.objects.filter(pk__in=[shown.pk, other.pk]).update(
        heartbeat_at=old, attempts=1, attempt_token=uuid.uuid4()
    )
    assert services.runs_reap_stale(run_id=shown.pk)["retried"] == 1
    assert no_enqueue == [shown.pk]
    assert Run.objects.get(pk=other.pk).status == Run.Status.RUNNING


@pytest.mark.django_db
def test_a_single_primary_gets_no_data_tier_section(alice, alice_client):
    from django.urls import reverse

    single = CACHED_DOC.replace(
        "    replicas: {count: 2, mode: async, reads: replicas}\n", ""
    )
    run = make_run(alice, text=single)
    assert execution.run_execute(run_id=run.pk) == Run.Status.SUCCEEDED
    run.refresh_from_db()
    assert run.report["components"]["db"]["type"] == "database"
    client = alice_client
    page = client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert 'data-testid="cache-cache"' in page
    assert "Replication lag" not in page and 'data-testid="database-' not in page


@pytest.mark.django_db
def test_the_run_page_shows_each_objective_met_or_missed(alice, alice_client):
    from django.urls import reverse

    text = CACHED_DOC + (
        "objectives:\n"
        "  latency_ms: {p99: 0.001}\n"  # a microsecond: missed
        "  utilization: 0.99\n"
    )
    run = make_run(alice, text=text)
    assert execution.run_execute(run_id=run.pk) == Run.Status.SUCCEEDED
    run.refresh_from_db()
    checks = {c["objective"]: c for c in run.report["objectives"]["checks"]}
    assert checks["latency_ms.p99"]["met"] is False
    assert checks["utilization"]["met"] is True
    client = alice_client
    page = client.get(reverse("run_detail", args=[run.pk])).content.decode()
    section = page[page.index('data-testid="objectives"') :]
    section = section[: section.index("</table>")]
    assert "Objectives:" in section and "missed" in section
    p99 = checks["latency_ms.p99"]["value"]
    assert "at most 0.00 ms" in section and f"{p99:,.2f} ms" in section
    assert f"({checks['utilization']['component']})" in section
    rows = section[section.index("<tbody>") :]
    assert rows.count(">met<") == 1 and rows.count(">missed<") == 1


@pytest.mark.django_db
def test_the_run_list_reads_its_figures_out_of_the_reports(alice, bob, alice_client):
    from django.urls import reverse

    met = make_run(alice, text=CACHED_DOC + "objectives: {utilization: 0.99}\n")
    missed = make_run(
        alice, text=CACHED_DOC + "objectives: {throughput_rps: 1000000.0}\n"
    )
    plain = make_run(alice)
    for run in (met, missed, plain):
        assert execution.run_execute(run_id=run.pk) == Run.Status.SUCCEEDED
    queued = make_run(alice)
    theirs = make_run(bob)
    client = alice_client
    page = client.get(reverse("run_list")).content.decode()
    rows = {
        run.pk: page[page.index(f"/runs/{run.pk}/") :].split("</tr>")[0]
        for run in (met, missed, plain, queued)
    }
    for run in (met, missed, plain):
        report = Run.objects.get(pk=run.pk).report
        assert f"{report['throughput_rps']:.1f} rps" in rows[run.pk]
        assert f"{report['latency_ms']['p99']:.1f} ms" in rows[run.pk]
    assert ">met<" in rows[met.pk] and "missed" not in rows[met.pk]
    assert ">missed<" in rows[missed.pk]
    assert "met<" not in rows[plain.pk] and "rps" not in rows[queued.pk]
    assert f"/runs/{theirs.pk}/" not in page
    # the reports themselves stay in the database
    from dashboard.runs import selectors

    listed = selectors.run_list_for_user(user=alice)
    assert {"report", "document_text"} <= listed[0].get_deferred_fields()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("example", "card", "texts"),
    [
        ("checkout-payment-queue", "queue-payments", ["Consumer lag", "End to end"]),
        ("global-api-cdn", "cdn-edge", ["Cross-region time saved"]),
        ("retry-storm", "retries", ["Attempts at the servers", "Gave up"]),
        ("login-flow-closed", "closed-users", ["Cycle (response + think)"]),
    ],
)
def test_the_run_page_reports_queues_cdns_retries_and_closed_users(
    alice, alice_client, example, card, texts
):
    # each example's golden report, as its worker would have stored it
    from pathlib import Path

    from django.urls import reverse

    root = Path(__file__).resolve().parents[2]
    text = (root / "examples" / f"{example}.yaml").read_text()
    report = json.loads((root / "tests/engine/golden" / f"{example}.json").read_text())
    run = make_run(alice, text=text, status=Run.Status.SUCCEEDED)
    Run.objects.filter(pk=run.pk).update(report=report)
    page = alice_client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert f'data-testid="{card}"' in page
    for t in texts:
        assert t in page


@pytest.mark.django_db
def test_the_run_page_shows_waiting_when_the_document_measured_it(alice, alice_client):
    from django.urls import reverse

    text = SMALL_DOC.replace("seed: 7", "seed: 7, waiting: true")
    assert "waiting: true" in text
    run = make_run(alice, text=text)
    assert execution.run_execute(run_id=run.pk) == Run.Status.SUCCEEDED
    run.refresh_from_db()
    page = alice_client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert 'data-testid="waiting"' in page and "Probability of waiting" in page
    plain = make_run(alice)
    assert execution.run_execute(run_id=plain.pk) == Run.Status.SUCCEEDED
    page = alice_client.get(reverse("run_detail", args=[plain.pk])).content.decode()
    assert 'data-testid="waiting"' not in page
