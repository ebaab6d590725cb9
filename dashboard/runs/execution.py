"""The worker side of a run: claim it, simulate it, stream its snapshots, finish it.

Called by the Celery task (`tasks.run_simulation`), never by a view. A worker claims a
queued run with a conditional update and a fresh attempt token; every write it makes
afterwards is conditional on that token, so a run taken back by the reaper (its worker
looked dead, `services.runs_reap_stale`) is never written by two workers, and a run
cancelled from the page stops at the worker's next heartbeat.

Imports point one way: services -> tasks -> execution; nothing here imports services.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db.models import F
from django.utils import timezone

import simengine
from dashboard.runs import publish
from dashboard.runs.limits import engine_limits
from dashboard.runs.models import Run, RunSnapshot

log = logging.getLogger(__name__)


@dataclass
class _RunStream:
    """Receives snapshots from the engine: stores, publishes and heartbeats.

    Publishing is bounded to RUN_SNAPSHOT_MESSAGES_PER_S messages a second (each carries
    every snapshot since the last one), whatever the simulated speed; storage and the
    heartbeat happen every RUN_HEARTBEAT_S of wall time.
    """

    run_id: uuid.UUID
    token: uuid.UUID
    deadline: float
    to_send: list[dict] = field(default_factory=list)
    to_store: list[RunSnapshot] = field(default_factory=list)
    last_send: float = 0.0
    last_beat: float = field(default_factory=time.monotonic)
    stop_reason: str = ""
    last_seq: int = -1
    progress: float = 0.0

    def on_snapshot(self, snapshot: dict) -> None:
        self.to_send.append(snapshot)
        self.to_store.append(
            RunSnapshot(run_id=self.run_id, seq=snapshot["seq"], data=snapshot)
        )
        self.last_seq = snapshot["seq"]
        self.progress = float(snapshot.get("progress", self.progress))
        now = time.monotonic()
        if now - self.last_send >= 1.0 / settings.RUN_SNAPSHOT_MESSAGES_PER_S:
            self.send()
        if now - self.last_beat >= settings.RUN_HEARTBEAT_S:
            self.beat()

    def should_stop(self) -> bool:
        if (
            not self.stop_reason
            and time.monotonic() - self.last_beat >= settings.RUN_HEARTBEAT_S
        ):
            self.beat()
        return bool(self.stop_reason)

    def send(self) -> None:
        if self.to_send:
            publish.publish_snapshots(self.run_id, self.to_send)
            self.to_send = []
        self.last_send = time.monotonic()

    def store(self) -> None:
        if self.to_store:
            RunSnapshot.objects.bulk_create(self.to_store, ignore_conflicts=True)
            self.to_store = []

    def beat(self) -> None:
        self.last_beat = time.monotonic()
        if self.last_beat > self.deadline:
            self.stop_reason = "time_limit"
            return
        alive = Run.objects.filter(
            pk=self.run_id, status=Run.Status.RUNNING, attempt_token=self.token
        ).update(
            heartbeat_at=timezone.now(), progress=self.progress, last_seq=self.last_seq
        )
        if alive:
            self.store()
        else:
            # Cancelled from the page, or taken back by the reaper: stop at once.
            self.stop_reason = "taken"

    def flush(self) -> None:
        self.send()
        self.store()


def _claim(run_id: uuid.UUID, worker: str) -> uuid.UUID | None:
    token = uuid.uuid4()
    now = timezone.now()
    claimed = Run.objects.filter(pk=run_id, status=Run.Status.QUEUED).update(
        status=Run.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        attempt_token=token,
        attempts=F("attempts") + 1,
        worker=worker[:200],
        progress=0.0,
        last_seq=-1,
        error="",
    )
    return token if claimed else None


def _finish(run_id: uuid.UUID, token: uuid.UUID, **fields) -> bool:
    fields.setdefault("finished_at", timezone.now())
    return bool(
        Run.objects.filter(
            pk=run_id, status=Run.Status.RUNNING, attempt_token=token
        ).update(**fields)
    )


def run_execute(*, run_id: uuid.UUID | str, worker: str = "") -> str:
    """Simulate a queued run in this worker; returns the run's resulting status.

    Called by the Celery task. A run that is not queued (already claimed, cancelled,
    finished) is left alone, so a duplicated task message is harmless.
    """
    run_id = uuid.UUID(str(run_id))
    token = _claim(run_id, worker)
    if token is None:
        return "skipped"
    run = Run.objects.get(pk=run_id)
    # A retried run starts its stream again from sequence 0.
    restarted = RunSnapshot.objects.filter(run_id=run_id).delete()[0] > 0
    publish.publish_status(run_id, status=Run.Status.RUNNING, restarted=restarted)

    stream = _RunStream(
        run_id=run_id,
        token=token,
        deadline=time.monotonic() + settings.RUN_TIME_LIMIT_S,
    )
    try:
        doc = simengine.parse_document(run.document_text, limits=engine_limits())
        report = simengine.simulate(
            doc,
            seed=run.seed,
            on_snapshot=stream.on_snapshot,
            should_stop=stream.should_stop,
        )
    except simengine.Cancelled:
        if stream.stop_reason == "time_limit":
            stream.flush()
            return _fail(run_id, token, _time_limit_message())
        return _status(run_id)  # cancelled, or taken back by the reaper
    except simengine.DocumentError as exc:
        return _fail(run_id, token, f"Invalid document: {exc}")
    except SoftTimeLimitExceeded:
        return _fail(run_id, token, _time_limit_message())
    except Exception as exc:
        log.exception("Run %s failed", run_id)
        return _fail(
            run_id, token, f"The simulation failed: {type(exc).__name__}: {exc}"
        )
    stream.flush()
    if _finish(
        run_id,
        token,
        status=Run.Status.SUCCEEDED,
        report=report,
        progress=1.0,
        last_seq=stream.last_seq,
        heartbeat_at=timezone.now(),
    ):
        publish.publish_status(
            run_id, status=Run.Status.SUCCEEDED, last_seq=stream.last_seq
        )
        return Run.Status.SUCCEEDED
    return _status(run_id)


def _status(run_id: uuid.UUID) -> str:
    return Run.objects.only("status").get(pk=run_id).status


def _time_limit_message() -> str:
    return f"Stopped: the run passed its time limit of {settings.RUN_TIME_LIMIT_S} s."


def _fail(run_id: uuid.UUID, token: uuid.UUID, message: str) -> str:
    if _finish(run_id, token, status=Run.Status.FAILED, error=message):
        publish.publish_status(run_id, status=Run.Status.FAILED, error=message)
        return Run.Status.FAILED
    return _status(run_id)
