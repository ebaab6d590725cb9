"""Run pages: the list, the live page, its report region, cancel."""

from __future__ import annotations

import json
import uuid

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from dashboard.runs import selectors, services


@login_required
@require_safe
def run_list(request: HttpRequest) -> HttpResponse:
    runs = selectors.run_list_for_user(user=request.user)
    return render(request, "runs/list.html", {"runs": runs})


def _run_context(run, *, with_snapshots: bool = True) -> dict:
    return {
        "run": run,
        "report": run.report,
        "report_json": json.dumps(run.report, indent=2) if run.report else "",
        "snapshots": selectors.run_snapshots(run_id=run.pk) if with_snapshots else [],
    }


@login_required
@require_safe
def run_detail(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    run = selectors._get_run_for_user(user=request.user, run_id=run_id)
    # A run whose worker died is never shown as running: reap before rendering.
    if run.status in run.ACTIVE and any(
        services.runs_reap_stale(run_id=run.pk).values()
    ):
        run.refresh_from_db()
    return render(request, "runs/detail.html", _run_context(run))


@login_required
@require_safe
def run_report(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    run = selectors._get_run_for_user(user=request.user, run_id=run_id)
    return render(
        request, "runs/detail.html#report", _run_context(run, with_snapshots=False)
    )


@login_required
@require_POST
def run_cancel(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    run = selectors._get_run_for_user(user=request.user, run_id=run_id)
    services.run_cancel(run=run)
    return redirect("run_detail", run_id=run.pk)
