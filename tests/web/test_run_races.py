"""Limits that hold under races: the per-user active-run limit with many concurrent
starts, and a run requested while the broker is down.

The concurrency tests use real threads, each with its own database connection, all
released at once by a barrier; they run on whichever database the suite runs on
(PostgreSQL with DATABASE_URL, else the file SQLite test database).
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from dashboard.celery import app as celery_app
from dashboard.runs import services
from dashboard.runs.models import Run
from dashboard.runs.services import RunLimitExceeded, run_create, run_document_parse
from dashboard.scenarios.models import ScenarioVersion
from tests.web.factories import SMALL_DOC, make_scenario
from tests.web.processes import drop_broker_connections

STARTS = 50
CHANGED = SMALL_DOC.replace("rps: 100", "rps: 150")


@pytest.fixture
def no_enqueue(monkeypatch) -> list:
    queued: list = []
    monkeypatch.setattr("dashboard.runs.services._enqueue", queued.append)
    return queued


#: A start PostgreSQL refused a connection for (max_connections, shared by the three
#: test shards of `make test`): the start never reached the limit's check.
NO_CONNECTION = "no connection"


def _no_connection(exc: Exception) -> bool:
    text = str(exc)
    return type(exc).__name__ == "OperationalError" and (
        "too many clients" in text or "remaining connection slots" in text
    )


def _all_at_once(work, n: int = STARTS) -> Counter:
    """Run `work()` in `n` threads released together; count what each returned or
    the name of what it raised."""
    barrier = threading.Barrier(n)
    outcomes: Counter = Counter()
    lock = threading.Lock()

    def one() -> None:
        try:
            barrier.wait()
            result = work()
        except Exception as exc:
            result = NO_CONNECTION if _no_connection(exc) else type(exc).__name__
        finally:
            connection.close()  # this thread's own connection
        with lock:
            outcomes[result] += 1

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a start never finished"
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_starts_by_one_user_never_pass_the_active_run_limit(
    alice, settings, no_enqueue
):
    settings.RUNS_ACTIVE_PER_USER = 4
    doc = run_document_parse(text=SMALL_DOC)

    def start() -> str:
        run_create(owner=alice, document=doc, document_text=SMALL_DOC)
        return "started"

    outcomes = _all_at_once(start)

    refused = outcomes.pop(NO_CONNECTION, 0)
    started = outcomes.get("started", 0)
    assert set(outcomes) <= {"started", "RunLimitExceeded"}, f"{outcomes}"
    assert started + outcomes.get("RunLimitExceeded", 0) + refused == STARTS
    # never past the limit; exactly at it unless the database refused some at once
    assert started == 4 if not refused else started <= 4, f"{outcomes}, {refused}"
    assert Run.objects.filter(owner=alice).count() == started


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_runs_from_the_editor_get_the_limit_then_429_and_no_versions(
    alice, settings, no_enqueue
):
    settings.RUNS_ACTIVE_PER_USER = 3
    scenario = make_scenario(alice)
    url = reverse("scenario_run", args=[scenario.pk])

    def post() -> int:
        client = Client()
        client.force_login(alice)
        return client.post(url, {"document": CHANGED}).status_code

    outcomes = _all_at_once(post)

    # a 503: PostgreSQL out of connections (dashboard/serving.py's clean refusal)
    refused = outcomes.pop(503, 0) + outcomes.pop(NO_CONNECTION, 0)
    made = outcomes.get(302, 0)
    assert set(outcomes) <= {302, 429}, f"{connection.vendor}: {outcomes}"
    assert made + outcomes.get(429, 0) + refused == STARTS
    assert made == 3 if not refused else made <= 3, f"{outcomes}, {refused} refused"
    assert Run.objects.filter(owner=alice).count() == made
    # Every version stored belongs to a run that started: a refused run kept none.
    stored = ScenarioVersion.objects.filter(scenario=scenario).exclude(number=1)
    assert stored.count() <= 3
    assert all(v.runs.exists() for v in stored)


@pytest.mark.django_db(transaction=True)
def test_concurrent_starts_by_different_users_do_not_block_each_other(
    alice, bob, settings, no_enqueue
):
    settings.RUNS_ACTIVE_PER_USER = 2
    doc = run_document_parse(text=SMALL_DOC)
    turn = iter([alice, bob] * (20 // 2))
    turn_lock = threading.Lock()

    def start() -> str:
        with turn_lock:
            owner = next(turn)
        try:
            run_create(owner=owner, document=doc, document_text=SMALL_DOC)
        except RunLimitExceeded:
            return f"{owner.username} refused"
        return f"{owner.username} started"

    outcomes = _all_at_once(start, n=20)

    assert outcomes == {
        "alice started": 2,
        "bob started": 2,
        "alice refused": 8,
        "bob refused": 8,
    }


# --- the broker is down -------------------------------------------------------------


@pytest.fixture
def broker_down():
    """Celery pointed at a closed port, really sending (not eager)."""
    conf = celery_app.conf
    saved = (conf.broker_url, conf.task_always_eager)
    conf.broker_url, conf.task_always_eager = "redis://127.0.0.1:1/0", False
    drop_broker_connections()
    yield
    conf.broker_url, conf.task_always_eager = saved
    drop_broker_connections()


@pytest.mark.django_db(transaction=True)
def test_a_run_requested_while_the_broker_is_down_is_queued_and_says_so(
    alice, alice_client, broker_down
):
    scenario = make_scenario(alice)

    response = alice_client.post(
        reverse("scenario_run", args=[scenario.pk]), {"document": CHANGED}
    )

    run = Run.objects.get(owner=alice)
    assert response.status_code == 302
    assert response.url == reverse("run_detail", kwargs={"run_id": run.pk})
    assert run.status == Run.Status.QUEUED
    assert run.error == services.BROKER_DOWN_NOTE
    page = alice_client.get(response.url)
    assert page.status_code == 200
    assert "the worker queue is unreachable" in page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_reaper_resends_a_run_queued_while_the_broker_was_down(
    alice, settings, broker_down, monkeypatch
):
    from django.utils import timezone

    run = run_create(
        owner=alice,
        document=run_document_parse(text=SMALL_DOC),
        document_text=SMALL_DOC,
    )
    assert Run.objects.get(pk=run.pk).error == services.BROKER_DOWN_NOTE
    Run.objects.filter(pk=run.pk).update(
        queued_at=timezone.now() - timezone.timedelta(seconds=3600)
    )
    sent: list = []
    monkeypatch.setattr(
        services.run_simulation, "apply_async", lambda args, **kw: sent.append(args)
    )

    assert services.runs_reap_stale()["resent"] == 1
    assert sent == [(str(run.pk),)]
