"""Reads of runs. `run_get_for_user` is the one way to a run by id: it asks
`dashboard.access` what the user may do with the run's scenario."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F, QuerySet, TextField
from django.db.models.functions import Cast, Mod
from django.http import Http404
from django.utils import timezone

from dashboard.access import Perm, run_perms, runs_visible_q, signed_in
from dashboard.runs.models import Run, RunPart, RunSnapshot, WorkerBeat


def runs_for_user(*, user: AbstractBaseUser) -> QuerySet[Run]:
    """Every run `user` may view: the runs of the scenarios they may view."""
    return Run.objects.filter(runs_visible_q(user))


def run_list_for_user(*, user: AbstractBaseUser, limit: int = 100) -> list[Run]:
    """The newest runs with the report figures the list shows, read out of the
    report in the database: a report (its timeline, every component) can be hundreds
    of kilobytes, and the list needs three numbers of it."""
    return list(
        runs_for_user(user=user)
        .select_related("scenario", "version", "owner")
        .defer("report", "document_text", "version__document_text", "version__layout")
        .annotate(
            throughput_rps=F("report__throughput_rps"),
            p99_ms=F("report__latency_ms__p99"),
            objectives_met=F("report__objectives__met"),
        )[:limit]
    )


def run_get_for_user_or_none(
    *, user: AbstractBaseUser, run_id: uuid.UUID | str, perm: Perm = Perm.VIEW
) -> Run | None:
    """The run if `user` may `perm` it, else None (the consumer refuses the socket).
    The run carries `perms`, what the user may do with it."""
    if not signed_in(user):
        return None
    try:
        run = Run.objects.select_related("scenario").get(pk=run_id)
    except (Run.DoesNotExist, ValueError, ValidationError):
        return None
    run.perms = run_perms(user, run)
    return run if perm in run.perms else None


def run_get_for_user(
    *, user: AbstractBaseUser, run_id: uuid.UUID | str, perm: Perm = Perm.VIEW
) -> Run:
    """The run if `user` may `perm` it; 404 if they may not view it, 403 if they may
    view it but not `perm` it."""
    run = run_get_for_user_or_none(user=user, run_id=run_id)
    if run is None:
        raise Http404("No such run.")
    if perm not in run.perms:
        raise PermissionDenied(f"You may not {perm} this run.")
    return run


def run_snapshots(*, run_id: uuid.UUID | str, after_seq: int = -1) -> list[dict]:
    rows = RunSnapshot.objects.filter(run_id=run_id, seq__gt=after_seq).order_by("seq")
    return [row.data for row in rows.only("data")]


def run_snapshots_json(*, run_id: uuid.UUID | str) -> tuple[int, str]:
    """The run's stored snapshots as one JSON array, and how many: the stored JSON
    text joined as it is (the database casts it), never decoded into Python and
    encoded again, which for a long run was most of the run page's cost."""
    rows = (
        RunSnapshot.objects.filter(run_id=run_id)
        .order_by("seq")
        .values_list(Cast("data", TextField()), flat=True)
    )
    texts = list(rows)
    return len(texts), "[" + ",".join(texts) + "]"


def run_snapshot_page(
    *, run_id: uuid.UUID | str, after_seq: int, limit: int
) -> list[tuple[int, dict]]:
    """Up to `limit` stored snapshots after `after_seq`, oldest first, as (seq, data):
    one page of a catch-up, read by key (seq) so a long run is never read whole."""
    rows = RunSnapshot.objects.filter(run_id=run_id, seq__gt=after_seq).order_by("seq")
    return list(rows.values_list("seq", "data")[:limit])


def run_snapshots_behind(*, run_id: uuid.UUID | str, after_seq: int) -> int:
    return RunSnapshot.objects.filter(run_id=run_id, seq__gt=after_seq).count()


def run_snapshot_sample(
    *, run_id: uuid.UUID | str, after_seq: int, stride: int, limit: int
) -> list[tuple[int, dict]]:
    """Every `stride`-th stored snapshot after `after_seq` (the first, then every
    stride-th after it by seq), at most `limit`: a quick outline of a long backlog."""
    rows = (
        RunSnapshot.objects.filter(run_id=run_id, seq__gt=after_seq)
        .annotate(phase=Mod(F("seq") - (after_seq + 1), stride))
        .filter(phase=0)
        .order_by("seq")
    )
    return list(rows.values_list("seq", "data")[:limit])


def runs_active_count(*, user: AbstractBaseUser) -> int:
    """Runs `user` started that are queued or running (the per-user limit)."""
    return Run.objects.filter(owner=user, status__in=Run.ACTIVE).count()


def _error_rate(requests: dict | None) -> float | None:
    """(errors + timeouts + rejected) / offered, as the report's objectives count it."""
    if not isinstance(requests, dict):
        return None
    offered = requests.get("offered") or 0
    if offered <= 0:
        return 0.0
    failed = sum(requests.get(k) or 0 for k in ("errors", "timeouts", "rejected"))
    return failed / offered


def run_parts_state(*, run_id: uuid.UUID | str) -> dict | None:
    """Where each replication of a fanned-out run stands, as the `parts` message
    carries it (`publish.publish_parts`); None when the run has no parts.

    The figures come from a part's report once it has one (a cancelled part's is
    partial), read out of the report in the database (a report is large).
    """
    rows = list(
        RunPart.objects.filter(run_id=run_id)
        .order_by("replication")
        .values(
            "replication",
            "status",
            "worker",
            "attempts",
            "progress",
            throughput_rps=F("report__throughput_rps"),
            p99_ms=F("report__latency_ms__p99"),
            requests=F("report__requests"),
        )
    )
    if not rows:
        return None
    parts = []
    for row in rows:
        requests = row.pop("requests")
        row["error_rate"] = _error_rate(requests)
        row["progress"] = max(0.0, min(1.0, row["progress"] or 0.0))
        parts.append(row)
    return {"planned": len(parts), "parts": parts}


def run_queue_state(run: Run) -> dict | None:
    """For a queued run: its place in the queue (queued runs created before it, plus
    one) and how many workers are up (their reaper timers beat within 3 x
    RUN_REAP_INTERVAL_S); None for a run that is not queued."""
    if run.status != Run.Status.QUEUED:
        return None
    position = (
        Run.objects.filter(status=Run.Status.QUEUED, created_at__lt=run.created_at)
        .exclude(pk=run.pk)
        .count()
        + 1
    )
    since = timezone.now() - timezone.timedelta(
        seconds=3 * settings.RUN_REAP_INTERVAL_S
    )
    workers = WorkerBeat.objects.filter(seen_at__gte=since).count()
    return {"position": position, "workers": workers}
