"""The worker side of a run: claim it, simulate it, stream its snapshots, finish it.

Called by the Celery tasks (`tasks.run_simulation`, `tasks.run_part`), never by a
view. A worker claims a queued run (or one part of it) with a conditional update and
a fresh attempt token; every write it makes afterwards is conditional on that token,
so a run or a part taken back by the reaper (its worker looked dead,
`services.runs_reap_stale`) is never written by two workers, and a run cancelled
from the page stops at the worker's next heartbeat.

Two paths:
- `run_execute`: the whole run in one task, every replication in turn
  (`simengine.simulate`), as a run of one replication always is;
- `part_execute`: one replication of a fanned-out run (`RunPart`,
  `simengine.run_replication`). Only replication 0, the lead, stores and streams
  snapshots (seq from 0, exactly like a run of one replication, so a page resyncs
  by seq as ever); the others report progress. How the parts come together is in
  `parts.py`.

Both feed the run's live what-if injections and replayed events to the engine
(`whatif.part_feed`) and hold a paced run to `Run.pace` (`whatif.Pacer`, a new one
per replication, waiting after each snapshot is stored and sent, heartbeating and
noticing a cancel while it waits).

Imports point one way: services -> tasks -> execution; nothing here imports services.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db.models import F
from django.utils import timezone

import simengine
from dashboard.runs import parts, publish, whatif
from dashboard.runs.limits import engine_limits
from dashboard.runs.models import Run, RunPart, RunSnapshot

log = logging.getLogger(__name__)


@dataclass
class _RunStream:
    """Receives snapshots from the engine: stores, publishes and heartbeats.

    Publishing is bounded to RUN_SNAPSHOT_MESSAGES_PER_S messages a second (each carries
    every snapshot since the last one), whatever the simulated speed; storage and the
    heartbeat happen every RUN_HEARTBEAT_S of wall time.

    `streams` False (a part other than the lead): nothing stored or sent, only the
    progress, with the heartbeat.
    """

    run_id: uuid.UUID
    token: uuid.UUID
    deadline: float
    streams: bool = True
    to_send: list[dict] = field(default_factory=list)
    to_store: list[RunSnapshot] = field(default_factory=list)
    last_send: float = 0.0
    last_beat: float = field(default_factory=time.monotonic)
    stop_reason: str = ""
    last_seq: int = -1
    progress: float = 0.0

    def on_snapshot(self, snapshot: dict) -> None:
        if self.streams:
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
        if self.alive():
            self.store()
        else:
            # Cancelled from the page, or taken back by the reaper: stop at once.
            self.stop_reason = "taken"

    def alive(self) -> bool:
        return bool(
            Run.objects.filter(
                pk=self.run_id, status=Run.Status.RUNNING, attempt_token=self.token
            ).update(
                heartbeat_at=timezone.now(),
                progress=self.progress,
                last_seq=self.last_seq,
            )
        )

    def flush(self) -> None:
        self.send()
        self.store()


@dataclass
class _PartStream(_RunStream):
    """The stream of one part: its own heartbeat (`parts.part_beat`), and the lead's
    snapshots' last seq on the run; a `parts` message with each beat whose progress
    moved (at most one a second per part)."""

    part_pk: int = 0
    sent_progress: float = -1.0

    def alive(self) -> bool:
        alive = parts.part_beat(
            part_pk=self.part_pk,
            run_id=self.run_id,
            token=self.token,
            progress=self.progress,
        )
        if alive and self.streams:
            Run.objects.filter(pk=self.run_id, status=Run.Status.RUNNING).update(
                last_seq=self.last_seq
            )
        if alive and self.progress != self.sent_progress:
            self.sent_progress = self.progress
            publish.publish_parts(self.run_id)
        return alive


def _paced(
    stream: _RunStream, pace: float | None
) -> Callable[[simengine.Snapshot], None]:
    """`stream.on_snapshot`, then hold the run to `pace` (a new pacer for each
    replication: simulated time starts again at 0 in each)."""
    current: dict[str, object] = {"replication": None, "pacer": None}

    def on_snapshot(snapshot: simengine.Snapshot) -> None:
        stream.on_snapshot(snapshot)
        if pace is None:
            return
        replication = snapshot.get("replication", 0)
        if current["replication"] != replication:
            current["replication"] = replication
            current["pacer"] = whatif.Pacer(pace)
        current["pacer"].wait(snapshot["t_s"], stream.should_stop)  # type: ignore[union-attr]

    return on_snapshot


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
    finished) is left alone, so a duplicated task message is harmless; so is a run
    fanned out into parts (those are `part_execute`'s).

    Stopped early (a cancel, the time limit), the run keeps the report of what was
    measured (`Cancelled.partial_report`, marked ``partial``) as its report.
    """
    run_id = uuid.UUID(str(run_id))
    if RunPart.objects.filter(run_id=run_id).exists():
        return "skipped"
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
            on_snapshot=_paced(stream, run.pace),
            should_stop=stream.should_stop,
            limits=engine_limits(),
            feed=whatif.part_feed(
                run_id=run_id, replication=0, replay_events=run.replay_events
            ),
        )
    except simengine.Cancelled as exc:
        partial = getattr(exc, "partial_report", None)
        if stream.stop_reason == "time_limit":
            stream.flush()
            return _fail(run_id, token, _time_limit_message(), report=partial)
        return _stopped(run_id, token, stream, partial)
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


def _stopped(
    run_id: uuid.UUID, token: uuid.UUID, stream: _RunStream, partial: dict | None
) -> str:
    """The run stopped at a heartbeat that found it no longer ours. Cancelled (the
    token still ours): keep what was measured as its report, and the snapshots it
    covers. Taken back by the reaper (another token): write nothing."""
    if partial is not None and Run.objects.filter(
        pk=run_id,
        status=Run.Status.CANCELLED,
        attempt_token=token,
        report__isnull=True,
    ).update(report=partial, last_seq=stream.last_seq):
        stream.store()
        publish.publish_status(
            run_id,
            status=Run.Status.CANCELLED,
            error=Run.objects.values_list("error", flat=True).get(pk=run_id),
            last_seq=stream.last_seq,
        )
    return _status(run_id)


def _status(run_id: uuid.UUID) -> str:
    return Run.objects.only("status").get(pk=run_id).status


def _time_limit_message() -> str:
    return f"Stopped: the run passed its time limit of {settings.RUN_TIME_LIMIT_S} s."


def _fail(
    run_id: uuid.UUID, token: uuid.UUID, message: str, report: dict | None = None
) -> str:
    fields: dict = {"status": Run.Status.FAILED, "error": message}
    if report is not None:
        fields["report"] = report
    if _finish(run_id, token, **fields):
        publish.publish_status(run_id, status=Run.Status.FAILED, error=message)
        return Run.Status.FAILED
    return _status(run_id)


# --- one replication of a fanned-out run ---------------------------------------------


def part_execute(*, run_id: uuid.UUID | str, replication: int, worker: str = "") -> str:
    """Simulate replication `replication` of a fanned-out run in this worker;
    returns the part's resulting status ("skipped" when it was not queued: a
    duplicated or late message, or a run already final).

    The part claims itself with a fresh token (the run goes running on the first
    claim), runs `simengine.run_replication`, heartbeats its `RunPart`, and on the
    way out stores its report (partial when stopped early) and settles the run
    (`parts.run_parts_settle`). A part that fails fails the run; the others stop at
    their next heartbeat.
    """
    run_id = uuid.UUID(str(run_id))
    replication = int(replication)
    claim = parts.part_claim(run_id=run_id, replication=replication, worker=worker)
    if claim is None:
        return "skipped"
    part_pk, token, started = claim
    run = Run.objects.get(pk=run_id)
    lead = replication == 0
    restarted = False
    if lead:
        # A retried lead starts the run's stream again from sequence 0.
        restarted = RunSnapshot.objects.filter(run_id=run_id).delete()[0] > 0
        if restarted:
            Run.objects.filter(pk=run_id).update(last_seq=-1)
    if started or restarted:
        publish.publish_status(run_id, status=Run.Status.RUNNING, restarted=restarted)
    publish.publish_parts(run_id)

    stream = _PartStream(
        run_id=run_id,
        token=token,
        deadline=time.monotonic() + settings.RUN_TIME_LIMIT_S,
        streams=lead,
        part_pk=part_pk,
    )
    try:
        doc = simengine.parse_document(run.document_text, limits=engine_limits())
        report = simengine.run_replication(
            doc,
            seed=run.seed,
            replication=replication,
            on_snapshot=_paced(stream, run.pace),
            should_stop=stream.should_stop,
            limits=engine_limits(),
            feed=whatif.part_feed(
                run_id=run_id, replication=replication, replay_events=run.replay_events
            ),
        )
    except simengine.Cancelled as exc:
        partial = getattr(exc, "partial_report", None)
        if stream.stop_reason == "time_limit":
            stream.flush()
            return _part_fail(stream, _time_limit_message(), report=partial)
        return _part_stopped(stream, partial)
    except simengine.DocumentError as exc:
        return _part_fail(stream, f"Invalid document: {exc}")
    except SoftTimeLimitExceeded:
        return _part_fail(stream, _time_limit_message())
    except Exception as exc:
        log.exception("Run %s, replication %s failed", run_id, replication)
        return _part_fail(stream, f"The simulation failed: {type(exc).__name__}: {exc}")
    stream.flush()
    if not parts.part_finish(
        part_pk=part_pk,
        token=token,
        status=RunPart.Status.SUCCEEDED,
        report=report,
        progress=1.0,
        heartbeat_at=timezone.now(),
    ):
        return _part_status(part_pk)  # taken back by the reaper meanwhile
    if lead:
        Run.objects.filter(pk=run_id).update(last_seq=stream.last_seq)
    publish.publish_parts(run_id)
    parts.run_parts_settle(run_id=run_id)
    return RunPart.Status.SUCCEEDED


def _part_stopped(stream: _PartStream, partial: dict | None) -> str:
    """The part stopped at a heartbeat that found it no longer ours. The run ended
    (cancelled, or failed by another part): keep what was measured on the part, and
    the lead's snapshots up to it; then the last part to stop stores the run's
    partial report. Taken back by the reaper (another token): write nothing."""
    if not parts.part_finish(
        part_pk=stream.part_pk,
        token=stream.token,
        status=RunPart.Status.CANCELLED,
        report=partial,
        progress=stream.progress,
    ):
        return _part_status(stream.part_pk)
    if stream.streams:
        stream.store()
        Run.objects.filter(pk=stream.run_id).update(last_seq=stream.last_seq)
    publish.publish_parts(stream.run_id)
    parts.run_parts_settle(run_id=stream.run_id)
    return RunPart.Status.CANCELLED


def _part_fail(stream: _PartStream, message: str, report: dict | None = None) -> str:
    if not parts.part_finish(
        part_pk=stream.part_pk,
        token=stream.token,
        status=RunPart.Status.FAILED,
        error=message,
        report=report,
        progress=stream.progress,
    ):
        return _part_status(stream.part_pk)
    if stream.streams:
        stream.store()
        Run.objects.filter(pk=stream.run_id).update(last_seq=stream.last_seq)
    parts.run_fail_from_part(run_id=stream.run_id, message=message)
    return RunPart.Status.FAILED


def _part_status(part_pk: int) -> str:
    return RunPart.objects.only("status").get(pk=part_pk).status
