"""Real Celery workers against real Redis (and PostgreSQL in CI).

Reliability row 10: a run goes queued -> running -> succeeded in a worker subprocess;
a worker killed with SIGKILL mid-run never leaves its run running: another worker's
reaper retries it (or fails it after RUN_MAX_ATTEMPTS) within 60 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from dashboard.celery import app as celery_app
from dashboard.runs.models import Run, RunSnapshot
from dashboard.runs.services import run_create
from tests.web.factories import SMALL_DOC, long_doc

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "postgresql":
        auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
        return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    return f"sqlite:///{s['NAME']}"


class Worker:
    def __init__(self, redis_url: str, log: Path, **env: str) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "dashboard",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                "1",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--hostname",
                f"test-{uuid.uuid4().hex[:8]}@%h",
            ],
            cwd=ROOT,
            env={
                **os.environ,
                "DATABASE_URL": _database_url(),
                "REDIS_URL": redis_url,
                "RUN_REAP_INTERVAL_S": "1",
                **env,
            },
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: SIGKILL takes parent and child
        )

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def _wait_for(predicate, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    tail = log.read_text()[-4000:] if log.exists() else ""
    pytest.fail(
        f"timed out after {timeout} s waiting for {what}\n--- worker log ---\n{tail}"
    )


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
    run = run_create(owner=alice, document_text=SMALL_DOC)
    assert _run(run.pk).status == Run.Status.QUEUED
    workers()
    _wait_for(
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
    run = run_create(owner=alice, document_text=long_doc(duration_s=1500, rps=1000))
    first = workers()
    _wait_for(
        lambda: _run(run.pk).last_seq >= 2, 60, "the first attempt to stream", log
    )
    first.kill()
    killed_at = time.monotonic()
    assert _run(run.pk).status == Run.Status.RUNNING  # nobody has noticed yet
    workers(RUN_STALE_AFTER_S="5")
    _wait_for(
        lambda: _run(run.pk).attempts == 2 and _run(run.pk).status != Run.Status.QUEUED,
        60,
        "the reaper to retry the run",
        log,
    )
    assert time.monotonic() - killed_at < 60
    _wait_for(
        lambda: _run(run.pk).status in Run.FINAL, 120, "the retried run to finish", log
    )
    done = _run(run.pk)
    assert done.status == Run.Status.SUCCEEDED, done.error
    assert RunSnapshot.objects.filter(run=done).count() == done.last_seq + 1


def test_sigkilled_worker_run_is_failed_when_out_of_attempts(
    workers, postgres, alice, tmp_path
):
    log = tmp_path / "worker.log"
    run = run_create(owner=alice, document_text=long_doc(duration_s=1500, rps=1000))
    first = workers(RUN_MAX_ATTEMPTS="1")
    _wait_for(lambda: _run(run.pk).last_seq >= 2, 60, "the run to stream", log)
    first.kill()
    killed_at = time.monotonic()
    workers(RUN_MAX_ATTEMPTS="1", RUN_STALE_AFTER_S="5")
    _wait_for(
        lambda: _run(run.pk).status == Run.Status.FAILED,
        60,
        "the run to be failed",
        log,
    )
    assert time.monotonic() - killed_at < 60
    assert "stopped" in _run(run.pk).error
