"""Writes of runs: create, cancel, execute (in a worker) and reap.

The database owns a run's state. A worker claims a queued run with a conditional update
and a fresh attempt token; every write it makes afterwards is conditional on that token,
so a run taken back by the reaper (its worker looked dead) is never written by two
workers, and a run cancelled from the page stops at the worker's next heartbeat.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import dataclass, field

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

import simengine
from dashboard.runs import publish
from dashboard.runs.models import Run, RunSnapshot
from dashboard.runs.selectors import runs_active_count
from dashboard.scenarios.models import Scenario, ScenarioVersion

log = logging.getLogger(__name__)


class RunLimitExceeded(Exception):
    """The user already has as many active runs as allowed."""


def engine_limits() -> simengine.Limits:
    return simengine.Limits(max_events=settings.RUN_MAX_EVENTS)


def _check_snapshot_budget(doc: simengine.Document) -> None:
    """Every snapshot is stored and drawn: keep a run's page a reasonable size."""
    sim = doc.simulation
    per_replication = math.ceil(sim.warmup_s / sim.snapshot_s) + math.ceil(
        sim.duration_s / sim.snapshot_s
    )
    total = per_replication * sim.replications
    if total > settings.RUN_MAX_SNAPSHOTS:
        raise simengine.DocumentError(
            [
                simengine.FieldError(
                    "simulation.snapshot_s",
                    f"{total} snapshots for the whole run is over the web limit of "
                    f"{settings.RUN_MAX_SNAPSHOTS} (RUN_MAX_SNAPSHOTS): raise snapshot_s "
                    "or lower replications",
                )
            ]
        )


def _enqueue(run_id: uuid.UUID) -> None:
    from dashboard.runs.tasks import run_simulation

    run_simulation.delay(str(run_id))


def run_create(
    *,
    owner: AbstractBaseUser,
    document_text: str,
    scenario: Scenario | None = None,
    version: ScenarioVersion | None = None,
    seed: int | None = None,
) -> Run:
    """Validate the document and queue a run of it.

    Raises `simengine.DocumentError` (nothing written) or `RunLimitExceeded`.
    """
    doc = simengine.parse_document(document_text, limits=engine_limits())
    _check_snapshot_budget(doc)
    if runs_active_count(user=owner) >= settings.RUNS_ACTIVE_PER_USER:
        raise RunLimitExceeded(
            f"You already have {settings.RUNS_ACTIVE_PER_USER} runs queued or running; "
            "wait for one to finish or cancel one."
        )
    if seed is None:
        seed = doc.simulation.seed  # the document's (0 unless it sets one)
    with transaction.atomic():
        run = Run.objects.create(
            owner=owner,
            scenario=scenario,
            version=version,
            name=(doc.name or (scenario.name if scenario else "Run"))[:200],
            document_text=document_text,
            seed=seed,
        )
        transaction.on_commit(lambda: _enqueue(run.id))
    return run


def run_cancel(*, run: Run) -> bool:
    """Cancel a queued or running run; True if this call cancelled it."""
    changed = Run.objects.filter(pk=run.pk, status__in=Run.ACTIVE).update(
        status=Run.Status.CANCELLED, finished_at=timezone.now(), error="Cancelled."
    )
    if changed:
        publish.publish_status(run.pk, status=Run.Status.CANCELLED, error="Cancelled.")
    return bool(changed)


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


def runs_reap_stale(*, run_id: uuid.UUID | None = None) -> dict[str, int]:
    """Retry or fail running runs whose worker stopped heartbeating; re-send lost tasks.

    Every worker calls this every RUN_REAP_INTERVAL_S (see reaper.py) for all runs;
    the run page calls it with `run_id` for the run it shows. Safe to run
    concurrently: every change is conditional.
    """
    now = timezone.now()
    cutoff = now - timezone.timedelta(seconds=settings.RUN_STALE_AFTER_S)
    counts = {"retried": 0, "failed": 0, "resent": 0}
    runs = Run.objects.all() if run_id is None else Run.objects.filter(pk=run_id)
    stale = runs.filter(status=Run.Status.RUNNING, heartbeat_at__lt=cutoff)
    for run in stale.only("id", "attempts", "attempt_token"):
        same = Run.objects.filter(
            pk=run.pk, status=Run.Status.RUNNING, attempt_token=run.attempt_token
        )
        if run.attempts < settings.RUN_MAX_ATTEMPTS:
            note = f"The worker stopped during attempt {run.attempts}; retrying."
            if same.update(
                status=Run.Status.QUEUED, attempt_token=None, error=note, queued_at=now
            ):
                counts["retried"] += 1
                publish.publish_status(run.pk, status=Run.Status.QUEUED, error=note)
                _enqueue(run.pk)
        else:
            note = (
                f"The worker running this simulation stopped (attempt {run.attempts} "
                f"of {settings.RUN_MAX_ATTEMPTS}); the run was marked failed."
            )
            if same.update(status=Run.Status.FAILED, finished_at=now, error=note):
                counts["failed"] += 1
                publish.publish_status(run.pk, status=Run.Status.FAILED, error=note)

    # A queued run nobody claimed for long: its task message was probably lost (a
    # broker restarted without persistence). Send it again; a duplicate is harmless
    # because claiming is conditional.
    lost_before = now - timezone.timedelta(seconds=settings.RUN_REQUEUE_AFTER_S)
    lost = runs.filter(status=Run.Status.QUEUED, queued_at__lt=lost_before)
    for lost_id in lost.values_list("pk", flat=True):
        if Run.objects.filter(
            pk=lost_id, status=Run.Status.QUEUED, queued_at__lt=lost_before
        ).update(queued_at=now):
            counts["resent"] += 1
            _enqueue(lost_id)
    return counts
