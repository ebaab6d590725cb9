"""Real Celery workers against real Redis (and PostgreSQL in CI).

Reliability rows 10 and 11: a run goes queued -> running -> succeeded in a worker subprocess;
a worker killed with SIGKILL mid-run never leaves its run running: another worker's
reaper retries it (or fails it after RUN_MAX_ATTEMPTS) within 60 s; a Redis restart
mid-run leaves the run to finish with its stored results intact.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from dashboard.celery import app as celery_app
from dashboard.runs.models import Run, RunSnapshot
from dashboard.runs.tasks import run_simulation
from tests.web.factories import SMALL_DOC, long_doc, make_run, queue_run

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
    run = queue_run(alice, SMALL_DOC)
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
    run = queue_run(alice, long_doc(duration_s=1500, rps=1000))
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
    run = queue_run(alice, long_doc(duration_s=1500, rps=1000))
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


class PrivateRedis:
    """A redis-server of the test's own on a free port, to stop and start at will."""

    def __init__(self, tmp_path: Path, binary: str = "redis-server") -> None:
        self.binary = binary
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.dir = tmp_path
        self.proc = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


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
        _wait_for(lambda: _run(run.pk).last_seq >= 2, 60, "the run to stream", log)
        redis.stop()
        time.sleep(2)
        redis.start()
        _wait_for(
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
