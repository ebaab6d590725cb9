"""Writes of runs: start one from the editor, create, cancel, and reap.

The database owns a run's state. Starting a run parses the document once, with the
web's limits (`limits.engine_limits`), and passes the parsed document on; a run refused
for any reason (a document error, the event or snapshot budget, the per-user limit)
writes nothing. The worker's side (claim, simulate, stream, finish) is `execution`;
a fanned-out run's parts (one task per replication, `RUN_FANOUT`) are `parts`.
"""

from __future__ import annotations

import logging
import uuid

from celery import group
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnreachable

import simengine
from dashboard.runs import parts, publish
from dashboard.runs.limits import check_snapshot_budget, engine_limits
from dashboard.runs.models import Run, RunPart
from dashboard.runs.selectors import runs_active_count
from dashboard.runs.tasks import run_part, run_simulation
from dashboard.scenarios.models import Scenario, ScenarioVersion
from dashboard.scenarios.services import scenario_version_create


class RunLimitExceeded(Exception):
    """The user already has as many active runs as allowed."""


log = logging.getLogger(__name__)

#: The note a queued run carries while its task could not be sent.
BROKER_DOWN_NOTE = (
    "Queued; the worker queue is unreachable, the run will be sent when it is back."
)


def _enqueue(run_id: uuid.UUID) -> None:
    """Send the run's task: one `run_simulation`, or for a fanned-out run a group of
    `run_part` tasks, one per queued part. A broker that is down leaves the run
    queued with a note (never an error page): the reaper sends queued runs and parts
    again after RUN_REQUEUE_AFTER_S (`runs_reap_stale`), and the worker clears the
    note."""
    replications = list(
        RunPart.objects.filter(run_id=run_id, status=RunPart.Status.QUEUED)
        .order_by("replication")
        .values_list("replication", flat=True)
    )
    if replications:
        tasks = group(run_part.s(str(run_id), r) for r in replications)
        _send(run_id, lambda: tasks.apply_async(retry_policy={"max_retries": 1}))
    elif not RunPart.objects.filter(run_id=run_id).exists():
        _send(
            run_id,
            lambda: run_simulation.apply_async(
                (str(run_id),), retry_policy={"max_retries": 1}
            ),
        )


def _enqueue_part(run_id: uuid.UUID, replication: int) -> None:
    """Send one part's task again (a retry after its worker died, or a lost message)."""
    _send(
        run_id,
        lambda: run_part.apply_async(
            (str(run_id), replication), retry_policy={"max_retries": 1}
        ),
    )


def _send(run_id: uuid.UUID, send) -> None:
    try:
        send()
    except (BrokerUnreachable, OSError) as exc:
        log.warning("run %s stays queued: the broker is unreachable (%s)", run_id, exc)
        _note_unsent(run_id)
    except Exception:  # any other failure to send: the same, the reaper sends it again
        log.exception("run %s stays queued: its task could not be sent", run_id)
        _note_unsent(run_id)


def _note_unsent(run_id: uuid.UUID) -> None:
    if Run.objects.filter(pk=run_id, status=Run.Status.QUEUED).update(
        error=BROKER_DOWN_NOTE
    ):
        publish.publish_status(run_id, status=Run.Status.QUEUED, error=BROKER_DOWN_NOTE)


def _lock_user(owner: AbstractBaseUser) -> None:
    """Serialise one user's run starts, so the active-run count cannot go stale
    between the check and the insert. PostgreSQL: a row lock on the user until the
    transaction ends (FOR NO KEY UPDATE: the rows that reference the user, a run or a
    version, take a key-share lock on it as they are inserted, which FOR UPDATE would
    conflict with, deadlocking two starts). SQLite: ``select_for_update`` is a no-op there, but settings
    open every transaction with BEGIN IMMEDIATE (``transaction_mode``), which takes
    the database's write lock before the count is read."""
    users = get_user_model().objects.select_for_update(no_key=True)
    list(users.filter(pk=owner.pk).values("pk"))


def run_document_parse(*, text: str) -> simengine.Document:
    """Parse a document to run, with the web's limits; raises `DocumentError`."""
    return simengine.parse_document(text, limits=engine_limits())


def fans_out(document: simengine.Document) -> bool:
    """Whether a run of `document` is one task per replication (`RunPart`s): N > 1
    replications and `RUN_FANOUT` on. A `simulation.precision` run decides after each
    replication whether to run another, so it stays one task (as `--jobs` keeps it in
    one process)."""
    sim = document.simulation
    return settings.RUN_FANOUT and sim.precision is None and sim.replications > 1


def run_create(
    *,
    owner: AbstractBaseUser,
    document: simengine.Document,
    document_text: str,
    scenario: Scenario | None = None,
    version: ScenarioVersion | None = None,
    seed: int | None = None,
    pace: float | None = None,
    replay_of: Run | None = None,
    replay_events: list[dict] | None = None,
) -> Run:
    """Queue a run of `document`, parsed from `document_text` by `run_document_parse`.

    `pace` (simulated seconds per wall second, None: as fast as possible) makes a
    run to watch and steer; `replay_of` and `replay_events` make a "Run again" of a
    run with injected events (`whatif_services.run_again`).

    Checks the snapshot budget and the per-user limit; raises `simengine.DocumentError`
    or `RunLimitExceeded` with nothing written. The limit holds under concurrent
    starts by one user (`_lock_user`). A broker that is down does not refuse the
    run: it stays queued with `BROKER_DOWN_NOTE` (see `_enqueue`).

    A document of N > 1 replications, with `RUN_FANOUT` on, is fanned out
    (`fans_out`): N `RunPart` rows in the same transaction, and on commit a group of
    N tasks.
    """
    check_snapshot_budget(document)
    if seed is None:
        seed = document.simulation.seed  # the document's (0 unless it sets one)
    with transaction.atomic():
        _lock_user(owner)
        if runs_active_count(user=owner) >= settings.RUNS_ACTIVE_PER_USER:
            raise RunLimitExceeded(
                f"You already have {settings.RUNS_ACTIVE_PER_USER} runs queued or "
                "running; wait for one to finish or cancel one."
            )
        run = Run.objects.create(
            owner=owner,
            scenario=scenario,
            version=version,
            name=(document.name or (scenario.name if scenario else "Run"))[:200],
            document_text=document_text,
            seed=seed,
            pace=pace,
            replay_of=replay_of,
            replay_events=list(replay_events or []),
        )
        if fans_out(document):
            parts.parts_create(run=run, replications=document.simulation.replications)
        # robust: whatever sending does, the committed run is the answer.
        transaction.on_commit(lambda: _enqueue(run.id), robust=True)
    return run


def _unsaved(latest: ScenarioVersion | None, text: str, layout: dict | None) -> bool:
    """Whether Run must store a new version first: the text changed, or the user
    moved components of a version whose layout was stored. A version stored without
    a layout (made by "New scenario", an example copy, an API) is drawn with
    positions the designer computed, not ones anybody chose: those are recorded on
    it (`_layout_fill`), never a version of their own."""
    if latest is None or latest.document_text != text:
        return True
    return bool(layout) and bool(latest.layout) and layout != latest.layout


def _layout_fill(version: ScenarioVersion, layout: dict | None) -> None:
    """Record `layout` on a version stored without one (presentation only: the
    engine never reads it, and the text is untouched). Conditional, so of two
    racing first runs one fills it and the other changes nothing."""
    if layout and not version.layout:
        ScenarioVersion.objects.filter(pk=version.pk, layout={}).update(layout=layout)


@transaction.atomic
def run_start(
    *,
    owner: AbstractBaseUser,
    scenario: Scenario,
    text: str,
    layout: dict | None = None,
    message: str = "Saved to run",
    base_version: int | None = None,
    pace: float | None = None,
    seed: int | None = None,
) -> Run:
    """The editor's Run: store what "Save version" would store, then queue a run of it.

    A new version (text, layout, message; `base_version` checked as a save checks it)
    is made when the text or the layout differ from the latest version's; the run is
    of that version. One parse, one transaction: raises `simengine.DocumentError`,
    `RunLimitExceeded` or `scenarios.services.VersionConflict`, and then neither a
    version nor a run is written.
    """
    doc = run_document_parse(text=text)
    _lock_user(owner)  # first, as `run_create` will: one lock order for every start
    version = scenario.latest_version
    if _unsaved(version, text, layout):
        version = scenario_version_create(
            scenario=scenario,
            text=text,
            document=doc,
            author=owner,
            message=message,
            layout=layout,
            base_version=base_version,
        )
    else:
        _layout_fill(version, layout)
    return run_create(
        owner=owner,
        document=doc,
        document_text=text,
        scenario=scenario,
        version=version,
        pace=pace,
        seed=seed,
    )


def run_start_version(
    *,
    owner: AbstractBaseUser,
    version: ScenarioVersion,
    pace: float | None = None,
    seed: int | None = None,
) -> Run:
    """Run a stored version as it is ("Run this version" on its page); nothing saved.
    `seed` (None: the document's) is what the HTTP API's `POST /runs` may set."""
    text = version.document_text
    return run_create(
        owner=owner,
        document=run_document_parse(text=text),
        document_text=text,
        scenario=version.scenario,
        version=version,
        pace=pace,
        seed=seed,
    )


def run_cancel(*, run: Run) -> bool:
    """Cancel a queued or running run; True if this call cancelled it.

    A running worker stops at its next heartbeat and keeps what it measured as the
    run's (partial) report. A fanned-out run's queued parts are cancelled at once and
    its running parts stop at their next heartbeat; the last to stop (or this call,
    when none runs) stores the run's partial report (`parts.run_parts_settle`).
    """
    changed = Run.objects.filter(pk=run.pk, status__in=Run.ACTIVE).update(
        status=Run.Status.CANCELLED, finished_at=timezone.now(), error="Cancelled."
    )
    if changed:
        publish.publish_status(run.pk, status=Run.Status.CANCELLED, error="Cancelled.")
        if RunPart.objects.filter(run_id=run.pk).exists():
            parts.parts_stop(run_id=run.pk)
            publish.publish_parts(run.pk)
            parts.run_parts_settle(run_id=run.pk)
    return bool(changed)


class RunActive(Exception):
    """A queued or running run cannot be deleted: it must be cancelled first."""

    def __init__(self, run: Run) -> None:
        super().__init__(
            f"This run is {run.status}: cancel it first, then delete it "
            "(a worker may still be writing to it)."
        )


def run_delete(*, run: Run) -> None:
    """Delete a finished run with its snapshots, replications, injections and
    viewers (their foreign keys cascade); review comments pinned to it keep their
    text and lose the pin. A queued or running run raises RunActive: deleting is
    conditional on the run being final, so a run a worker still writes to is
    never deleted from under it."""
    with transaction.atomic():
        deleted, _ = (
            Run.objects.filter(pk=run.pk).exclude(status__in=Run.ACTIVE).delete()
        )
        if not deleted and Run.objects.filter(pk=run.pk).exists():
            run.refresh_from_db(fields=["status"])
            raise RunActive(run)


def runs_reap_stale(*, run_id: uuid.UUID | None = None) -> dict[str, int]:
    """Retry or fail running runs whose worker stopped heartbeating; re-send lost tasks.

    Every worker calls this every RUN_REAP_INTERVAL_S (see reaper.py) for all runs;
    the run page calls it with `run_id` for the run it shows. Safe to run
    concurrently: every change is conditional.

    A fanned-out run is reaped part by part (`_reap_parts`), never as a whole: its
    parts heartbeat, and a dead worker's part is retried alone while the others go on.
    """
    now = timezone.now()
    cutoff = now - timezone.timedelta(seconds=settings.RUN_STALE_AFTER_S)
    counts = {"retried": 0, "failed": 0, "resent": 0}
    runs = Run.objects.all() if run_id is None else Run.objects.filter(pk=run_id)
    single = runs.filter(parts__isnull=True)
    stale = single.filter(status=Run.Status.RUNNING, heartbeat_at__lt=cutoff)
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
    lost = single.filter(status=Run.Status.QUEUED, queued_at__lt=lost_before)
    for lost_id in lost.values_list("pk", flat=True):
        if Run.objects.filter(
            pk=lost_id, status=Run.Status.QUEUED, queued_at__lt=lost_before
        ).update(queued_at=now):
            counts["resent"] += 1
            _enqueue(lost_id)
    _reap_parts(run_id=run_id, now=now, cutoff=cutoff, counts=counts)
    return counts


def _reap_parts(
    *,
    run_id: uuid.UUID | None,
    now,
    cutoff,
    counts: dict[str, int],
) -> None:
    """The parts' side of `runs_reap_stale`.

    - A running part of a running run whose heartbeat is older than
      RUN_STALE_AFTER_S is queued again alone, with a new task (attempts below
      RUN_MAX_ATTEMPTS; a lead restarts the run's snapshots from 0 when claimed),
      or fails the run. The other parts go on untouched.
    - A part whose run ended while its worker was dead never stops by itself: it is
      closed (cancelled), so the run's partial report can be stored.
    - A queued part unclaimed for RUN_REQUEUE_AFTER_S has its task sent again.
    - A running run whose parts have all ended, or one of which failed, is settled
      (combined) or failed: the worker that ended the last part may have died
      between the part's write and the run's.
    """
    all_parts = RunPart.objects.all()
    if run_id is not None:
        all_parts = all_parts.filter(run_id=run_id)
    running = Run.objects.filter(status=Run.Status.RUNNING, parts__isnull=False)
    if run_id is not None:
        running = running.filter(pk=run_id)
    for pk in running.distinct().values_list("pk", flat=True):
        failed = (
            RunPart.objects.filter(run_id=pk, status=RunPart.Status.FAILED)
            .values_list("error", flat=True)
            .first()
        )
        if failed is not None:
            parts.run_fail_from_part(run_id=pk, message=failed)
        elif not RunPart.objects.filter(run_id=pk, finished_at__isnull=True).exists():
            parts.run_parts_settle(run_id=pk)
    stale = all_parts.filter(
        status__in=parts.STOPPING, finished_at__isnull=True, heartbeat_at__lt=cutoff
    ).select_related("run")
    for part in stale.only(
        "id", "run_id", "replication", "status", "attempts", "attempt_token",
        "run__status",
    ):  # fmt: skip
        same = RunPart.objects.filter(
            pk=part.pk,
            status=part.status,
            attempt_token=part.attempt_token,
            finished_at__isnull=True,
        )
        running = (
            part.status == RunPart.Status.RUNNING
            and part.run.status == Run.Status.RUNNING
        )
        if not running:
            if same.update(status=RunPart.Status.CANCELLED, finished_at=now):
                publish.publish_parts(part.run_id)
                parts.run_parts_settle(run_id=part.run_id)
        elif part.attempts < settings.RUN_MAX_ATTEMPTS:
            note = (
                f"The worker stopped during attempt {part.attempts} of replication "
                f"{part.replication}; retrying it."
            )
            if same.update(
                status=RunPart.Status.QUEUED,
                attempt_token=None,
                error=note,
                queued_at=now,
                progress=0.0,
            ):
                counts["retried"] += 1
                publish.publish_parts(part.run_id)
                _enqueue_part(part.run_id, part.replication)
        else:
            note = (
                f"The worker running replication {part.replication} stopped (attempt "
                f"{part.attempts} of {settings.RUN_MAX_ATTEMPTS}); the run was "
                "marked failed."
            )
            if same.update(status=RunPart.Status.FAILED, finished_at=now, error=note):
                counts["failed"] += 1
                parts.run_fail_from_part(run_id=part.run_id, message=note)

    lost_before = now - timezone.timedelta(seconds=settings.RUN_REQUEUE_AFTER_S)
    lost = all_parts.filter(
        status=RunPart.Status.QUEUED,
        queued_at__lt=lost_before,
        run__status__in=Run.ACTIVE,
    )
    for pk, lost_run_id, replication in lost.values_list("pk", "run_id", "replication"):
        if RunPart.objects.filter(
            pk=pk, status=RunPart.Status.QUEUED, queued_at__lt=lost_before
        ).update(queued_at=now):
            counts["resent"] += 1
            _enqueue_part(lost_run_id, replication)
