"""Run pages: the live page, its report region, cancel (the history, the report
page and delete: report_views.py)."""

from __future__ import annotations

import json
import uuid

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from dashboard.access import Perm
from dashboard.runs import selectors, services


def run_context(run, *, with_snapshots: bool = True) -> dict:
    count, snapshots_json = (
        selectors.run_snapshots_json(run_id=run.pk) if with_snapshots else (0, "[]")
    )
    return {
        "run": run,
        "report": run.report,
        "snapshot_count": count,
        "snapshots_json": snapshots_json,
    }


@login_required
@require_safe
def run_detail(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    run = selectors.run_get_for_user(user=request.user, run_id=run_id)
    # A run whose worker died is never shown as running: reap before rendering.
    if run.status in run.ACTIVE and any(
        services.runs_reap_stale(run_id=run.pk).values()
    ):
        run.refresh_from_db()
    return render(request, "runs/detail.html", run_context(run))


@login_required
@require_safe
def run_report(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    run = selectors.run_get_for_user(user=request.user, run_id=run_id)
    return render(
        request, "runs/detail.html#report", run_context(run, with_snapshots=False)
    )


@login_required
@require_safe
def run_report_json(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    """The run's report as `python -m simengine run --json` prints it (format 1),
    to download or to read in the browser; 404 until the run has one."""
    run = selectors.run_get_for_user(user=request.user, run_id=run_id)
    return report_json_response(run)


def report_json_response(run) -> HttpResponse:
    """The report download of a run the caller may view (shared pages too)."""
    if not run.report:
        raise Http404("This run has no report yet.")
    response = HttpResponse(json.dumps(run.report), content_type="application/json")
    response["Content-Disposition"] = f'inline; filename="report-{run.pk}.json"'
    return response


@login_required
@require_POST
def run_cancel(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    run = selectors.run_get_for_user(user=request.user, run_id=run_id, perm=Perm.EDIT)
    services.run_cancel(run=run)
    return redirect("run_detail", run_id=run.pk)
