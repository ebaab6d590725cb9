"""Real Celery workers against real Redis (and PostgreSQL in CI).

Reliability rows 10 and 11: a run goes queued -> running -> succeeded in a worker subprocess;
a worker killed with SIGKILL mid-run never leaves its run running: another worker's
reaper retries it (or fails it after RUN_MAX_ATTEMPTS) within 60 s; a Redis restart
mid-run leaves the run to finish with its stored results intact.
"""

from __future__ import annotations

import time

import pytest

from dashboard.celery import app as celery_app
from dashboard.runs.models import Run, RunSnapshot
from dashboard.runs.tasks import run_simulation
from tests.web.factories import SMALL_DOC, long_doc, make_run, queue_run
from tests.web.processes import PrivateRedis, Worker, wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def workers(redis_url, tmp_path):
    celery_app.control.purge()  # stray messages from other tests' commits
    started: list[Worker] = []

    def start(**env: str) -> Worker:
        worker = Worker(redis_url, tmp_path / "worker.log", **env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def _run(run_id) -> Run:
    return Run.objects.get(pk=run_id)


def test_real_worker_takes_a_run_from_queued_to_succeeded(
    workers, postgres, alice, tmp_path
):
    run = queue_run(alice, SMALL_DOC)
    assert _run(run.pk).status == Run.Status.QUEUED
    workers()
    wait_for(
        lambda: _run(run.pk).status in Run.FINAL,
        60,
        "the run to finish",
        tmp_path / "worker.log",
    )
    done = _run(run.pk)
    assert done.status == Run.Status.SUCCEEDED, done.error
    assert done.attempts == 1 and done.worker.startswith("")
    assert done.report["requests"]["completed"] > 0
    assert RunSnapshot.objects.filter(run=done).count() == done.last_seq + 1


def test_sigkilled_worker_run_is_retried_by_another_worker(
    workers, postgres, alice, tmp_path
):
    log = tmp_path / "worker.log"
    run = queue_run(alice, long_doc(duration_s=1500, rps=1000))
    first = workers()
    wait_for(lambda: _run(run.pk).last_seq >= 2, 60, "the first attempt to stream", log)
    first.kill()
    killed_at = time.monotonic()
    assert _run(run.pk).status == Run.Status.RUNNING  # nobody has noticed yet
    workers(RUN_STALE_AFTER_S="5")
    wait_for(
        lambda: _run(run.pk).attempts == 2 and _run(run.pk).status != Run.Status.QUEUED,
        60,
        "the reaper to retry the run",
        log,
    )
    assert time.monotonic() - killed_at < 60
    wait_for(
        lambda: _run(run.pk).status in Run.FINAL, 120, "the retried run to finish", log
    )
    done = _run(run.pk)
    assert done.status == Run.Status.SUCCEEDED, done.error
    assert RunSnapshot.objects.filter(run=done).count() == done.last_seq + 1


def test_sigkilled_worker_run_is_failed_when_out_of_attempts(
    workers, postgres, alice, tmp_path
):
    log = tmp_path / "worker.log"
    run = queue_run(alice, long_doc(duration_s=1500, rps=1000))
    first = workers(RUN_MAX_ATTEMPTS="1")
    wait_for(lambda: _run(run.pk).last_seq >= 2, 60, "the run to stream", log)
    first.kill()
    killed_at = time.monotonic()
    workers(RUN_MAX_ATTEMPTS="1", RUN_STALE_AFTER_S="5")
    wait_for(
        lambda: _run(run.pk).status == Run.Status.FAILED,
        60,
        "the run to be failed",
        log,
    )
    assert time.monotonic() - killed_at < 60
    assert "stopped" in _run(run.pk).error


def test_redis_restarted_mid_run_the_run_still_ends_with_its_results_intact(
    redis_url, postgres, alice, tmp_path, redis_server_binary
):
    """Reliability row 11: the broker and channel layer go away and come back mid-run."""
    redis = PrivateRedis(tmp_path, redis_server_binary)
    log = tmp_path / "worker.log"
    worker = Worker(redis.url, log)
    try:
        run = make_run(alice, text=long_doc(duration_s=1500, rps=1000))
        with celery_app.connection_for_write(redis.url) as conn:
            run_simulation.apply_async(args=[str(run.pk)], connection=conn)
        wait_for(lambda: _run(run.pk).last_seq >= 2, 60, "the run to stream", log)
        redis.stop()
        time.sleep(2)
        redis.start()
        wait_for(
            lambda: _run(run.pk).status in Run.FINAL, 120, "the run to finish", log
        )
        done = _run(run.pk)
        assert done.status == Run.Status.SUCCEEDED, done.error
        assert done.attempts == 1
        assert done.report["requests"]["completed"] > 0
        assert RunSnapshot.objects.filter(run=done).count() == done.last_seq + 1
    finally:
        worker.stop()
        redis.stop()
