"""Replications fanned out over real Celery workers (real Redis, real PostgreSQL).

A run of 10 replications is 10 `run_part` tasks; two worker processes (node names
w1@host and w2@host) share them, and the run's report, combined in the database,
equals `simengine.simulate` in this process. Reliability rows 10 (a worker SIGKILLed
mid-run: its parts retried alone on the other one) and 11 (Redis stopped and started
mid-run) for the fanned-out path; a cancel stops every part and keeps a partial
report.
"""

from __future__ import annotations

import json
import time

import pytest

import simengine
from dashboard.celery import app as celery_app
from dashboard.runs.models import Run, RunPart, RunSnapshot, WorkerBeat
from dashboard.runs.services import run_cancel
from tests.web.factories import long_doc, queue_run
from tests.web.processes import (
    PrivateRedis,
    Worker,
    drop_broker_connections,
    wait_for,
)

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

#: Ten replications of about a second of CPU each (30,000 requests).
TEN = long_doc(duration_s=60, rps=500).replace("seed: 7,", "seed: 7, replications: 10,")
#: Ten longer replications (150,000 requests each), for kills and cancels.
TEN_LONG = long_doc(duration_s=300, rps=500).replace(
    "seed: 7,", "seed: 7, replications: 10,"
)
#: Ten replications that each take far longer than the test waits (600,000
#: requests; a snapshot every 5 s keeps the run within RUN_MAX_SNAPSHOTS).
TEN_VERY_LONG = (
    long_doc(duration_s=1500, rps=400)
    .replace("seed: 7,", "seed: 7, replications: 10,")
    .replace("snapshot_s: 1", "snapshot_s: 5")
)


@pytest.fixture
def workers(redis_url, tmp_path):
    celery_app.control.purge()  # stray messages from other tests' commits
    started: list[Worker] = []

    def start(name: str, redis: str = redis_url, **env: str) -> Worker:
        worker = Worker(redis, tmp_path / "worker.log", name=name, **env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def _up(*ws: Worker, log) -> None:
    """Wait until every worker's reaper step has beaten (it is consuming soon after)."""
    names = {w.hostname for w in ws}
    wait_for(
        lambda: names <= set(WorkerBeat.objects.values_list("hostname", flat=True)),
        60,
        f"workers {sorted(names)} to beat",
        log,
    )


def _run(run_id) -> Run:
    return Run.objects.get(pk=run_id)


def _parts(run_id) -> list[RunPart]:
    return list(RunPart.objects.filter(run_id=run_id).order_by("replication"))


def _in_process(text: str, seed: int) -> dict:
    """The report `simulate` gives here, as the database gives JSON back."""
    report = simengine.simulate(simengine.parse_document(text), seed=seed)
    return json.loads(json.dumps(report))


def _assert_lead_stream_complete(run: Run) -> None:
    seqs = list(
        RunSnapshot.objects.filter(run=run)
        .order_by("seq")
        .values_list("seq", flat=True)
    )
    assert seqs == list(range(run.last_seq + 1))
    replications = set(
        RunSnapshot.objects.filter(run=run).values_list("data__replication", flat=True)
    )
    assert replications == {0}  # only the lead streams


def test_two_workers_share_a_ten_replication_run_and_its_report_is_simulate_s(
    workers, postgres, alice, tmp_path
):
    log = tmp_path / "worker.log"
    w1, w2 = workers("w1"), workers("w2")
    _up(w1, w2, log=log)
    run = queue_run(alice, TEN)
    assert len(_parts(run.pk)) == 10
    wait_for(lambda: _run(run.pk).status in Run.FINAL, 120, "the run to finish", log)
    done = _run(run.pk)
    assert done.status == Run.Status.SUCCEEDED, done.error
    parts = _parts(run.pk)
    assert [p.status for p in parts] == [RunPart.Status.SUCCEEDED] * 10
    assert {p.worker for p in parts} == {w1.hostname, w2.hostname}
    assert all(p.attempts == 1 for p in parts)
    local = _in_process(TEN, done.seed)
    assert done.report == local
    assert done.report["replications"] == 10
    assert done.report["ci95"] == local["ci95"]
    assert done.report["latency_ms"] == local["latency_ms"]
    _assert_lead_stream_complete(done)
    w1.stop()  # a clean stop takes its beat away; the other stays up
    assert set(WorkerBeat.objects.values_list("hostname", flat=True)) == {w2.hostname}


def test_a_sigkilled_worker_s_parts_are_retried_on_the_other_and_the_report_holds(
    workers, postgres, alice, tmp_path
):
    """Row 10 for parts: stale parts are queued again alone (a lost prefetched
    message is sent again too); never two copies; the report is unchanged."""
    log = tmp_path / "worker.log"
    fast = {"RUN_STALE_AFTER_S": "3", "RUN_REQUEUE_AFTER_S": "5"}
    w1, w2 = workers("w1", **fast), workers("w2", **fast)
    _up(w1, w2, log=log)
    run = queue_run(alice, TEN_LONG)
    wait_for(
        lambda: (
            RunPart.objects.filter(
                run_id=run.pk, worker=w1.hostname, status=RunPart.Status.RUNNING
            ).exists()
            and RunPart.objects.filter(
                run_id=run.pk, worker=w2.hostname, status=RunPart.Status.RUNNING
            ).exists()
        ),
        60,
        "both workers to run a part",
        log,
    )
    w1.kill()
    killed_at = time.monotonic()
    lost = [
        p.replication
        for p in _parts(run.pk)
        if p.worker == w1.hostname and p.status == RunPart.Status.RUNNING
    ]
    assert lost, "w1 was running a part when it was killed"
    wait_for(lambda: _run(run.pk).status in Run.FINAL, 60, "the run to finish", log)
    assert time.monotonic() - killed_at < 60
    done = _run(run.pk)
    assert done.status == Run.Status.SUCCEEDED, done.error
    parts = _parts(run.pk)
    for part in parts:
        assert part.status == RunPart.Status.SUCCEEDED
        if part.replication in lost:
            assert part.attempts == 2 and part.worker == w2.hostname
        else:
            assert part.attempts == 1
    assert done.report == _in_process(TEN_LONG, done.seed)
    _assert_lead_stream_complete(done)


def test_cancelling_a_fanned_out_run_stops_every_part_and_keeps_a_partial_report(
    workers, postgres, alice, tmp_path
):
    log = tmp_path / "worker.log"
    w1, w2 = workers("w1"), workers("w2")
    _up(w1, w2, log=log)
    run = queue_run(alice, TEN_VERY_LONG)
    wait_for(
        lambda: (
            RunPart.objects.filter(run_id=run.pk, status=RunPart.Status.RUNNING).count()
            == 2
            and _run(run.pk).last_seq >= 30
        ),  # the lead is past its warm-up
        60,
        "two parts to run and the lead to stream",
        log,
    )
    assert run_cancel(run=_run(run.pk))
    wait_for(
        lambda: (
            not RunPart.objects.filter(run_id=run.pk, finished_at__isnull=True).exists()
            and _run(run.pk).report is not None
        ),
        30,
        "every part to stop and the partial report",
        log,
    )
    done = _run(run.pk)
    assert done.status == Run.Status.CANCELLED
    parts = _parts(run.pk)
    assert [p.status for p in parts] == [RunPart.Status.CANCELLED] * 10
    assert done.report["partial"]["replications_planned"] == 10
    assert done.report["partial"]["replications_complete"] == 0
    assert done.report["partial"]["measured_s"] > 0
    assert done.report["requests"]["completed"] > 0
    # The lead's partial stands for the run; its snapshots are all stored.
    assert parts[0].report is not None
    assert done.report["duration_s"] == parts[0].report["duration_s"]
    _assert_lead_stream_complete(done)
    beats = {p.replication: p.heartbeat_at for p in parts}
    time.sleep(3)  # three heartbeats' worth: nothing beats any more
    assert {p.replication: p.heartbeat_at for p in _parts(run.pk)} == beats


@pytest.fixture
def private_redis(settings, tmp_path, redis_server_binary, redis_url):
    """The web side (this process) on a Redis of the test's own, to stop and start."""
    from channels.layers import channel_layers

    redis = PrivateRedis(tmp_path, redis_server_binary)
    conf = celery_app.conf
    saved = (conf.broker_url, conf.task_always_eager)
    conf.broker_url, conf.task_always_eager = redis.url, False
    drop_broker_connections()
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis.url], "capacity": 500, "expiry": 30},
        }
    }
    channel_layers.backends.clear()
    yield redis
    conf.broker_url, conf.task_always_eager = saved
    drop_broker_connections()
    channel_layers.backends.clear()
    redis.stop()


def test_redis_restarted_mid_fanned_run_the_run_ends_with_its_results_intact(
    private_redis, workers, postgres, alice, tmp_path
):
    """Row 11 for parts: the broker (with the queued parts' messages: it keeps
    nothing on disk) and the channel layer go away and come back mid-run."""
    log = tmp_path / "worker.log"
    fast = {"RUN_REQUEUE_AFTER_S": "5"}
    w1 = workers("w1", redis=private_redis.url, **fast)
    w2 = workers("w2", redis=private_redis.url, **fast)
    _up(w1, w2, log=log)
    run = queue_run(alice, TEN_LONG)
    wait_for(
        lambda: (
            RunPart.objects.filter(
                run_id=run.pk, status=RunPart.Status.RUNNING
            ).exists()
            and _run(run.pk).last_seq >= 2
        ),
        60,
        "the run to stream",
        log,
    )
    private_redis.stop()
    time.sleep(2)
    private_redis.start()
    wait_for(lambda: _run(run.pk).status in Run.FINAL, 120, "the run to finish", log)
    done = _run(run.pk)
    assert done.status in (Run.Status.SUCCEEDED, Run.Status.FAILED)
    parts = _parts(run.pk)
    assert all(p.finished_at is not None for p in parts)
    if done.status == Run.Status.SUCCEEDED:
        assert [p.status for p in parts] == [RunPart.Status.SUCCEEDED] * 10
        assert done.report == _in_process(TEN_LONG, done.seed)
    else:
        assert done.error
    _assert_lead_stream_complete(done)
