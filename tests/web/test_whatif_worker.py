"""Live what-if end to end with a real Celery worker against real Redis: two faults
injected into a paced run land in its event log; "Run again" replays them where they
landed and the report comes out the same, byte for byte (the download of each)."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django.urls import reverse

from dashboard.celery import app as celery_app
from dashboard.runs.models import Run, RunInjection
from dashboard.runs.services import run_create, run_document_parse
from dashboard.runs.whatif_services import run_again, run_inject
from tests.web.processes import Worker, wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

PACED_DOC = """\
scaleboard: 1
name: Three web servers, watched
simulation: {duration_s: 30, warmup_s: 2, seed: 11, snapshot_s: 1}
workload: {target: lb, rps: 400, timeout_ms: 1000}
components:
  lb:
    type: load_balancer
    targets: [web]
    health_check: {interval_s: 1, unhealthy_after: 2}
  web: {type: service, instances: 3, cores: 2, work_ms: {dist: exponential, mean: 10}}
"""


@pytest.fixture
def worker(redis_url, tmp_path):
    celery_app.control.purge()
    w = Worker(redis_url, tmp_path / "worker.log")
    yield w
    w.stop()


def _landed(run_id, count):
    return (
        RunInjection.objects.filter(run_id=run_id, landed_t_s__isnull=False).count()
        >= count
    )


def test_two_injected_faults_land_and_run_again_replays_them_byte_for_byte(
    worker, postgres, alice, tmp_path
):
    log = tmp_path / "worker.log"
    doc = run_document_parse(text=PACED_DOC)
    run = run_create(owner=alice, document=doc, document_text=PACED_DOC, pace=8.0)
    wait_for(
        lambda: Run.objects.get(pk=run.pk).progress > 0.1, 60, "the run to start", log
    )
    run_inject(
        run=run, user=alice, raw={"action": "fault", "component": "web", "instance": 0}
    )
    wait_for(lambda: _landed(run.pk, 1), 30, "the first fault to land", log)
    time.sleep(1.1)  # one injection per user per second
    run_inject(
        run=run,
        user=alice,
        raw={"action": "fault", "component": "web", "instance": 2, "for_s": 5},
    )
    wait_for(lambda: _landed(run.pk, 2), 30, "the second fault to land", log)
    wait_for(
        lambda: Run.objects.get(pk=run.pk).status in Run.FINAL,
        90,
        "the run to end",
        log,
    )
    done = Run.objects.get(pk=run.pk)
    assert done.status == Run.Status.SUCCEEDED, done.error
    injected = [e for e in done.report["event_log"] if e["kind"] == "injected"]
    assert [e["injection"]["instance"] for e in injected] == [0, 2]
    assert [e["t_s"] for e in injected] == sorted(
        RunInjection.objects.filter(run=run).values_list("landed_t_s", flat=True)
    )
    downs = [e for e in done.report["event_log"] if e["kind"] == "instance_down"]
    assert {e["instance"] for e in downs} >= {"web-0", "web-2"}

    again = run_again(run=done, owner=alice)
    wait_for(
        lambda: Run.objects.get(pk=again.pk).status in Run.FINAL,
        90,
        "the replay to end",
        log,
    )
    replay = Run.objects.get(pk=again.pk)
    assert replay.status == Run.Status.SUCCEEDED, replay.error
    client = Client()
    client.force_login(alice)
    first = client.get(reverse("run_report_json", args=[done.pk])).content
    second = client.get(reverse("run_report_json", args=[replay.pk])).content
    assert first == second
    # and the injections made a difference: the document alone gives another report
    plain = run_create(owner=alice, document=doc, document_text=PACED_DOC)
    wait_for(
        lambda: Run.objects.get(pk=plain.pk).status in Run.FINAL,
        90,
        "the plain run",
        log,
    )
    assert Run.objects.get(pk=plain.pk).report["requests"] != done.report["requests"]
