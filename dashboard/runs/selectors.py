"""Reads of runs; `_get_run_for_user` is the one place that authorizes a run."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F, QuerySet
from django.db.models.functions import Mod
from django.http import Http404

from dashboard.runs.models import Run, RunSnapshot


def runs_for_user(*, user: AbstractBaseUser) -> QuerySet[Run]:
    return Run.objects.filter(owner=user)


def run_list_for_user(*, user: AbstractBaseUser, limit: int = 100) -> list[Run]:
    """The newest runs with the report figures the list shows, read out of the
    report in the database: a report (its timeline, every component) can be hundreds
    of kilobytes, and the list needs three numbers of it."""
    return list(
        runs_for_user(user=user)
        .select_related("scenario", "version")
        .defer("report", "document_text", "version__document_text", "version__layout")
        .annotate(
            throughput_rps=F("report__throughput_rps"),
            p99_ms=F("report__latency_ms__p99"),
            objectives_met=F("report__objectives__met"),
        )[:limit]
    )


def run_get_for_user_or_none(
    *, user: AbstractBaseUser, run_id: uuid.UUID | str
) -> Run | None:
    if not getattr(user, "is_authenticated", False):
        return None
    try:
        return runs_for_user(user=user).get(pk=run_id)
    except (Run.DoesNotExist, ValueError):
        return None


def _get_run_for_user(*, user: AbstractBaseUser, run_id: uuid.UUID | str) -> Run:
    run = run_get_for_user_or_none(user=user, run_id=run_id)
    if run is None:
        raise Http404("No such run.")
    return run


def run_snapshots(*, run_id: uuid.UUID | str, after_seq: int = -1) -> list[dict]:
    rows = RunSnapshot.objects.filter(run_id=run_id, seq__gt=after_seq).order_by("seq")
    return [row.data for row in rows.only("data")]


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
    return runs_for_user(user=user).filter(status__in=Run.ACTIVE).count()
