"""Reads of runs. `run_get_for_user` is the one way to a run by id: it asks
`dashboard.access` what the user may do with the run's scenario."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F, FloatField, Q, QuerySet, TextField, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, Mod
from django.http import Http404
from django.utils import timezone

from dashboard.access import Perm, run_perms, runs_visible_q, signed_in
from dashboard.runs.models import Run, RunPart, RunSnapshot, WorkerBeat
from dashboard.runs.verdicts import run_verdict
from dashboard.scenarios.models import Scenario, ScenarioVersion


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


# --- The run history (templates/runs/list.html) and the report page ----------------

#: The history's status filter: a status, "active" (queued or running) or
#: "degraded" (a report with more failures than RUN_DEGRADED_ERROR_RATE).
HISTORY_STATUSES = ("all", "active", "succeeded", "degraded", "failed", "cancelled")
HISTORY_PAGE_SIZE = 50


def _report_number(path: str):
    """A number of the report, read in the database (NULL when absent)."""
    return Cast(KT(path), FloatField())


def run_history_annotate(runs: QuerySet[Run]) -> QuerySet[Run]:
    """`runs` with what a history row shows, read out of each report by the
    database: the headline figures and the small parts a verdict needs
    (`verdicts.run_verdict` reads `report_requests`, `report_objectives` and
    `report_partial`). The reports themselves (their timelines, hundreds of
    kilobytes each) stay in the database."""
    return (
        runs.select_related("scenario", "version", "owner")
        .defer("report", "document_text", "version__document_text", "version__layout")
        .annotate(
            throughput_rps=F("report__throughput_rps"),
            p99_ms=F("report__latency_ms__p99"),
            objectives_met=F("report__objectives__met"),
            report_requests=F("report__requests"),
            report_objectives=F("report__objectives"),
            report_partial=F("report__partial"),
        )
    )


def _degraded(runs: QuerySet[Run], *, rate: float) -> QuerySet[Run]:
    """Runs whose report lost more than `rate` of the offered requests (errors,
    timeouts and rejections; or timeouts alone), as `verdicts.run_verdict` says."""
    zero = Value(0.0)
    failed = (
        Coalesce(_report_number("report__requests__errors"), zero)
        + Coalesce(_report_number("report__requests__timeouts"), zero)
        + Coalesce(_report_number("report__requests__rejected"), zero)
    )
    return (
        runs.exclude(status__in=Run.ACTIVE)
        .exclude(status=Run.Status.FAILED)
        .annotate(
            _offered=_report_number("report__requests__offered"),
            _failed=failed,
            _timeouts=Coalesce(_report_number("report__requests__timeouts"), zero),
        )
        .filter(_offered__gt=0)
        .filter(
            Q(_failed__gt=F("_offered") * rate) | Q(_timeouts__gt=F("_offered") * rate)
        )
    )


def run_history_filter(
    runs: QuerySet[Run], *, status: str = "all", degraded_rate: float | None = None
) -> QuerySet[Run]:
    """`runs` narrowed to one of HISTORY_STATUSES (a ValueError for any other)."""
    if status not in HISTORY_STATUSES:
        raise ValueError(f"unknown status filter {status!r}")
    if status == "active":
        return runs.filter(status__in=Run.ACTIVE)
    if status == "degraded":
        rate = (
            settings.RUN_DEGRADED_ERROR_RATE if degraded_rate is None else degraded_rate
        )
        return _degraded(runs, rate=rate)
    if status != "all":
        return runs.filter(status=status)
    return runs


def run_history_for_user(
    *,
    user: AbstractBaseUser,
    status: str = "all",
    scenario_id: int | None = None,
) -> QuerySet[Run]:
    """The runs `user` may view, newest first, filtered and annotated for the
    history list (page it: `HISTORY_PAGE_SIZE` a page)."""
    runs = runs_for_user(user=user)
    if scenario_id is not None:
        runs = runs.filter(scenario_id=scenario_id)
    runs = run_history_filter(runs, status=status)
    return run_history_annotate(runs).order_by("-created_at", "-pk")


def run_history_for_scenario(*, scenario: Scenario, limit: int = 10) -> list[Run]:
    """The newest runs of a scenario the caller may view, annotated, each with its
    `verdict` (the scenario page's run history)."""
    runs = Run.objects.filter(scenario=scenario)
    rows = list(run_history_annotate(runs).order_by("-created_at", "-pk")[:limit])
    for run in rows:
        run.verdict = run_verdict(run)
    return rows


def run_history_scenarios(
    *, user: AbstractBaseUser, limit: int = 500
) -> list[Scenario]:
    """The scenarios `user` may view that have runs, by name (the scenario filter)."""
    visible = runs_for_user(user=user).filter(scenario__isnull=False)
    return list(
        Scenario.objects.filter(pk__in=visible.values("scenario_id"))
        .only("id", "name")
        .order_by("name", "pk")[:limit]
    )


def runs_perms_for_user(*, user: AbstractBaseUser, runs: list[Run]) -> list[Run]:
    """Give each run its `perms` for `user` (what `run_get_for_user` would say),
    asking `dashboard.access` once per kind of scenario (personal, example, each
    team) rather than once per row."""
    asked: dict[tuple, frozenset[Perm]] = {}
    for run in runs:
        scenario = run.scenario if run.scenario_id is not None else None
        if scenario is None:
            key: tuple = ("none", run.owner_id)
        elif scenario.is_example:
            key = ("example",)
        elif scenario.team_id is not None:
            key = ("team", scenario.team_id)
        else:
            key = ("personal", scenario.owner_id)
        if key not in asked:
            asked[key] = run_perms(user, run)
        run.perms = asked[key]
    return runs


def run_compare_choices(*, run: Run, limit: int = 100) -> list[Run]:
    """The other finished runs of `run`'s scenario that have a report, newest first:
    what the report page may compare `run` with (whoever may view `run` may view
    them: they share its scenario)."""
    if run.scenario_id is None:
        return []
    return list(
        Run.objects.filter(
            scenario_id=run.scenario_id, status__in=Run.FINAL, report__isnull=False
        )
        .exclude(pk=run.pk)
        .select_related("version")
        .only("id", "name", "status", "created_at", "scenario_id", "version__number")
        .order_by("-created_at", "-pk")[:limit]
    )


def run_parts_figures(*, run: Run) -> list[RunPart]:
    """The replications of a fanned-out run, each with its worker and the figures
    of its own report (`throughput_rps`, `p99_ms`), its report left in the database."""
    return list(
        RunPart.objects.filter(run=run)
        .defer("report")
        .annotate(
            throughput_rps=F("report__throughput_rps"),
            p99_ms=F("report__latency_ms__p99"),
        )
        .order_by("replication")
    )


def run_version_number(*, run: Run) -> int | None:
    """The number of the version `run` ran, without reading the version's text."""
    if run.version_id is None:
        return None
    return (
        ScenarioVersion.objects.filter(pk=run.version_id)
        .values_list("number", flat=True)
        .first()
    )


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
