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
from dashboard.runs.live import replications_summary, run_live_view
from dashboard.runs.verdicts import run_verdict
from dashboard.runs.whatif_views import whatif_context


def _whatif(run, user) -> dict:
    if user is None:  # a shared page: read-only, no what-if panel
        return {"whatif": None}
    return whatif_context(run=run, user=user)


def report_waiting(report) -> list[tuple[str, dict]]:
    """The components of a report that measured waiting (simulation.waiting)."""
    comps = report.get("components") if isinstance(report, dict) else None
    if not isinstance(comps, dict):
        return []
    return [
        (str(cid), c["waiting"])
        for cid, c in comps.items()
        if isinstance(c, dict) and isinstance(c.get("waiting"), dict)
    ]


def run_context(run, *, page: bool = True, user=None) -> dict:
    """The run page's context (`page`), or its report region's (`page=False`: the
    region run.js fetches when the run ends, with the header's verdict swapped in
    out of band). Never the stored snapshots: the WebSocket's catch-up serves them.
    `user` is the viewer (None on a shared page: no what-if panel)."""
    context = {
        "run": run,
        "report": run.report,
        "verdict": run_verdict(run),
        "replications": replications_summary(run.report),
        "report_waiting": report_waiting(run.report),
    }
    if not page:
        context["verdict_oob"] = True
        return context
    context.update(
        # Cancel is offered only to those who may (a viewer's POST is a 403).
        can_edit=Perm.EDIT in (getattr(run, "perms", None) or ()),
        live=run_live_view(run),
        queue=selectors.run_queue_state(run),
        parts=selectors.run_parts_state(run_id=run.pk),
        **_whatif(run, user),
    )
    return context


@login_required
@require_safe
def run_detail(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    run = selectors.run_get_for_user(user=request.user, run_id=run_id)
    # A run whose worker died is never shown as running: reap before rendering.
    if run.status in run.ACTIVE and any(
        services.runs_reap_stale(run_id=run.pk).values()
    ):
        run.refresh_from_db()
    return render(request, "runs/detail.html", run_context(run, user=request.user))


@login_required
@require_safe
def run_report(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    run = selectors.run_get_for_user(user=request.user, run_id=run_id)
    return render(request, "runs/detail.html#report", run_context(run, page=False))


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
