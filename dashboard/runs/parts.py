"""A fanned-out run's parts (`RunPart`, one replication each): the database's side.

A run of N > 1 replications is N Celery tasks (`tasks.run_part`), one per
replication, spread over the workers. There is no Celery result backend, so no
chord: the database does the chord's job. Every part that stops (succeeded,
failed, cancelled, or closed by the reaper after its worker died) calls
`run_parts_settle`, which locks the run's row (`select_for_update`) and looks at
every part:

- the run still running and every part succeeded: the reports are combined in
  replication order (`simengine.combine_reports`, exactly what `simengine.simulate`
  returns) and the run is marked succeeded;
- the run cancelled or failed and no part still stopping (`finished_at` set on
  every one): its partial report (`simengine.partial_combined`) is stored, once.

Both checks and both writes happen under the row lock and read what is committed,
so a part delivered twice, retried, or finishing at the same moment as another
never combines twice or early: a part's own writes are conditional on its attempt
token, and the last one to commit is the one that sees all the others.

Imported by `execution` (the worker side) and `services` (cancel, reap); it imports
neither.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.db.models import Avg, F, OuterRef, Subquery
from django.utils import timezone

import simengine
from dashboard.runs import publish
from dashboard.runs.models import Run, RunPart

#: Statuses a part may be in while a worker still runs it: a cancel marks running
#: parts cancelled at once, and each one sets `finished_at` when it has stopped.
STOPPING = (RunPart.Status.RUNNING, RunPart.Status.CANCELLED)


def parts_create(*, run: Run, replications: int) -> None:
    """The N parts of a run, queued (in the transaction that creates the run)."""
    RunPart.objects.bulk_create(
        [
            RunPart(run=run, replication=r, queued_at=run.queued_at)
            for r in range(replications)
        ]
    )


def part_claim(
    *, run_id: uuid.UUID, replication: int, worker: str
) -> tuple[int, uuid.UUID, bool] | None:
    """Claim a queued part with a fresh attempt token: (part pk, token, whether this
    claim started the run). None when the part is not queued (a duplicated or late
    message) or the run is already final.

    The run's row is locked first, so a claim and a cancel (or a failure, or the
    combine) are one after the other: a part is never claimed for a run that is no
    longer active. The first claim moves the run from queued to running.
    """
    token = uuid.uuid4()
    now = timezone.now()
    with transaction.atomic():
        run = Run.objects.select_for_update().only("status").filter(pk=run_id).first()
        if run is None or run.status not in Run.ACTIVE:
            return None
        claimed = RunPart.objects.filter(
            run_id=run_id, replication=replication, status=RunPart.Status.QUEUED
        ).update(
            status=RunPart.Status.RUNNING,
            attempt_token=token,
            attempts=F("attempts") + 1,
            worker=worker[:200],
            started_at=now,
            heartbeat_at=now,
            finished_at=None,
            progress=0.0,
            report=None,
            error="",
        )
        if not claimed:
            return None
        started = run.status == Run.Status.QUEUED
        if started:
            Run.objects.filter(pk=run_id).update(
                status=Run.Status.RUNNING,
                started_at=now,
                heartbeat_at=now,
                attempt_token=None,
                attempts=1,
                worker=worker[:200],
                progress=0.0,
                last_seq=-1,
                error="",
            )
        pk = (
            RunPart.objects.filter(run_id=run_id, replication=replication)
            .values_list("pk", flat=True)
            .get()
        )
    return pk, token, started


def part_beat(
    *, part_pk: int, run_id: uuid.UUID, token: uuid.UUID, progress: float
) -> bool:
    """A running part's heartbeat: True while it should go on (its attempt token
    still holds and the run is still running). Also the run's heartbeat and its
    progress (the mean of its parts')."""
    now = timezone.now()
    alive = RunPart.objects.filter(
        pk=part_pk,
        status=RunPart.Status.RUNNING,
        attempt_token=token,
        run__status=Run.Status.RUNNING,
    ).update(heartbeat_at=now, progress=progress)
    if alive:
        mean = (
            RunPart.objects.filter(run_id=OuterRef("pk"))
            .values("run_id")
            .annotate(mean=Avg("progress"))
            .values("mean")
        )
        Run.objects.filter(pk=run_id, status=Run.Status.RUNNING).update(
            heartbeat_at=now, progress=Subquery(mean)
        )
    return bool(alive)


def part_finish(*, part_pk: int, token: uuid.UUID, status: str, **fields: Any) -> bool:
    """End this attempt of a part (conditional on its token, and on it not having
    ended already); True if it was this call that ended it."""
    fields.setdefault("finished_at", timezone.now())
    return bool(
        RunPart.objects.filter(
            pk=part_pk,
            attempt_token=token,
            status__in=STOPPING,
            finished_at__isnull=True,
        ).update(status=status, **fields)
    )


def parts_stop(*, run_id: uuid.UUID) -> None:
    """The run ended (cancelled or failed): queued parts are cancelled at once;
    running ones are marked cancelled and stop at their next heartbeat, setting
    `finished_at` when they have (`part_finish`)."""
    now = timezone.now()
    RunPart.objects.filter(run_id=run_id, status=RunPart.Status.QUEUED).update(
        status=RunPart.Status.CANCELLED, finished_at=now
    )
    RunPart.objects.filter(run_id=run_id, status=RunPart.Status.RUNNING).update(
        status=RunPart.Status.CANCELLED
    )


def run_fail_from_part(*, run_id: uuid.UUID, message: str) -> None:
    """A part failed (or ran out of attempts): the run fails with its message and
    the other parts stop."""
    now = timezone.now()
    failed = Run.objects.filter(pk=run_id, status__in=Run.ACTIVE).update(
        status=Run.Status.FAILED, error=message, finished_at=now
    )
    if failed:
        publish.publish_status(run_id, status=Run.Status.FAILED, error=message)
    parts_stop(run_id=run_id)
    publish.publish_parts(run_id)
    run_parts_settle(run_id=run_id)


def _partial_of(rows: list[tuple[int, str, dict | None]]) -> dict | None:
    """The report of the part stopped midway to stand for the run when no part
    finished: the lead's (replication 0) partial, else the one that measured most."""
    partials = [
        (r, report)
        for r, status, report in rows
        if status != RunPart.Status.SUCCEEDED and report
    ]
    for r, report in partials:
        if r == 0:
            return report
    if not partials:
        return None
    return max(partials, key=lambda p: p[1].get("duration_s") or 0.0)[1]


def run_parts_settle(*, run_id: uuid.UUID) -> str | None:
    """Finish a fanned-out run from its parts, when they allow (see the module's
    docstring); the run's status if this call finished or completed it, else None.

    Called by every part that stops, by a cancel and by the reaper. Never writes a
    report over another: the combined report only onto a running run, the partial
    one only where there is none.
    """
    with transaction.atomic():
        run = (
            Run.objects.select_for_update()
            .only("status", "report", "last_seq", "error")
            .filter(pk=run_id)
            .first()
        )
        if run is None or run.status == Run.Status.QUEUED:
            return None
        parts = RunPart.objects.filter(run_id=run_id).order_by("replication")
        if run.status == Run.Status.RUNNING:
            states = list(parts.values_list("status", flat=True))
            if not states or any(s != RunPart.Status.SUCCEEDED for s in states):
                return None
            reports = list(parts.values_list("report", flat=True))
            combined = simengine.combine_reports(reports)
            now = timezone.now()
            Run.objects.filter(pk=run_id).update(
                status=Run.Status.SUCCEEDED,
                report=combined,
                progress=1.0,
                finished_at=now,
                heartbeat_at=now,
            )
            outcome = (Run.Status.SUCCEEDED, "", run.last_seq)
        else:
            if run.report is not None:
                return None
            if parts.filter(finished_at__isnull=True).exists():
                return None  # a part is still stopping: the last one does this
            rows = list(parts.values_list("replication", "status", "report"))
            complete = [
                report
                for _, status, report in rows
                if status == RunPart.Status.SUCCEEDED and report
            ]
            partial = simengine.partial_combined(complete, _partial_of(rows), len(rows))
            if partial is None:
                return None
            Run.objects.filter(pk=run_id, report__isnull=True).update(report=partial)
            outcome = (run.status, run.error, run.last_seq)
    status, error, last_seq = outcome
    # After the commit: a browser told "succeeded" fetches the stored report. A
    # partial report lands after the run's final status was sent: the same status
    # again says it is there now.
    publish.publish_status(run_id, status=status, error=error, last_seq=last_seq)
    return status
