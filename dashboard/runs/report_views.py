"""The run history, the report page, its exports, and deleting a run.

- `/runs/`: the runs a user may view, filtered by status and scenario, 50 a page
  (`selectors.run_history_for_user`: figures read out of the reports by the
  database, never a whole report).
- `/runs/<id>/summary/`: the report page of one run (`?compare=<run id>`: another
  finished run of the same scenario beside it), `/runs/<id>/timeline.csv` and
  `.json`: its timeline, one row per window. The shared variants under
  `/s/<token>/runs/<id>/` are the same pages, read-only, by the link's token.
- `/runs/<id>/delete`: a confirmation (GET) and the delete (POST), EDIT on the run.

None of them reads a run's stored snapshots: the report has the timeline.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_safe

from dashboard.access import Perm
from dashboard.inputs import refuse_unstorable_text
from dashboard.runs import selectors, services, timeline, verdicts
from dashboard.runs.models import Run
from dashboard.scenarios import diff
from dashboard.scenarios import selectors as scenario_selectors
from dashboard.sharing import selectors as sharing_selectors
from dashboard.sharing.views import Shared, shared

#: Events listed on the report page at most (the JSON download has them all).
EVENTS_SHOWN = 500
GET_OR_POST = ["GET", "HEAD", "POST"]
#: Who may delete a run, as the pages say it.
WHO_MAY_DELETE = (
    "Editors and owners of a run's scenario may delete it (a run without a "
    "scenario: whoever started it). A queued or running run must be cancelled first."
)


class BadInput(Exception):
    """A query parameter the page cannot take: "field: reason", answered 400."""


def _bad(message: str) -> HttpResponse:
    return HttpResponseBadRequest(message, content_type="text/plain")


# --- The history --------------------------------------------------------------------


def _history_params(request: HttpRequest) -> tuple[str, int | None, int]:
    status = request.GET.get("status", "all") or "all"
    if status not in selectors.HISTORY_STATUSES:
        raise BadInput(
            "status: must be one of " + ", ".join(selectors.HISTORY_STATUSES)
        )
    scenario_id = None
    raw = request.GET.get("scenario", "")
    if raw:
        try:
            scenario_id = int(raw)
        except ValueError:
            raise BadInput("scenario: must be a scenario's number") from None
        if scenario_id < 1:
            raise BadInput("scenario: must be a scenario's number")
    raw = request.GET.get("page", "1") or "1"
    try:
        page = int(raw)
    except ValueError:
        raise BadInput("page: must be a whole number, 1 or more") from None
    if page < 1:
        raise BadInput("page: must be a whole number, 1 or more")
    return status, scenario_id, page


def history_rows(*, user, runs: list[Run]) -> list[Run]:
    """Each run with its `perms` and `verdict`, for a history table."""
    selectors.runs_perms_for_user(user=user, runs=runs)
    for run in runs:
        run.verdict = verdicts.run_verdict(run)
    return runs


@login_required
@refuse_unstorable_text
@require_safe
def run_list(request: HttpRequest) -> HttpResponse:
    """The run history: `?status=` (selectors.HISTORY_STATUSES), `?scenario=<pk>`,
    `?page=N` (50 a page)."""
    try:
        status, scenario_id, page_number = _history_params(request)
    except BadInput as exc:
        return _bad(str(exc))
    scenario = None
    if scenario_id is not None:
        scenario = scenario_selectors.scenario_get_for_user(
            user=request.user, pk=scenario_id
        )
    runs = selectors.run_history_for_user(
        user=request.user, status=status, scenario_id=scenario_id
    )
    page = Paginator(runs, selectors.HISTORY_PAGE_SIZE).get_page(page_number)
    rows = history_rows(user=request.user, runs=list(page.object_list))
    query = {"status": status} if status != "all" else {}
    if scenario_id is not None:
        query["scenario"] = str(scenario_id)
    scenarios = selectors.run_history_scenarios(user=request.user)
    if scenario is not None and scenario.pk not in {s.pk for s in scenarios}:
        scenarios.insert(0, scenario)
    return render(
        request,
        "runs/list.html",
        {
            "runs": rows,
            "page": page,
            "status": status,
            "statuses": selectors.HISTORY_STATUSES,
            "scenario": scenario,
            "scenarios": scenarios,
            "query_string": urlencode(query),
            "who_may_delete": WHO_MAY_DELETE,
        },
    )


# --- The report page ----------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _interval(report: Mapping[str, Any], key: str) -> tuple[float, float] | None:
    ci = report.get("ci95")
    pair = ci.get(key) if isinstance(ci, Mapping) else None
    if isinstance(pair, list | tuple) and len(pair) == 2:
        low, high = _number(pair[0]), _number(pair[1])
        if low is not None and high is not None:
            return low, high
    return None


def _error_rate_interval(report: Mapping[str, Any]) -> tuple[float, float] | None:
    objectives = report.get("objectives")
    checks = objectives.get("checks") if isinstance(objectives, Mapping) else None
    for check in checks if isinstance(checks, list) else []:
        if isinstance(check, Mapping) and check.get("objective") == "error_rate":
            pair = check.get("ci95")
            if isinstance(pair, list | tuple) and len(pair) == 2:
                low, high = _number(pair[0]), _number(pair[1])
                if low is not None and high is not None:
                    return low, high
    return None


def figure_text(value: float | None, unit: str) -> str:
    """A headline number as the report page shows it, without its unit."""
    if value is None:
        return "\u2014"
    if unit == "$/h":
        return f"{value:,.3f}"
    if unit == "%":
        return f"{value:.2f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.1f}" if unit == "rps" else f"{value:,.2f}"


def headline(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The report page's headline numbers, each with its 95% interval when the run
    had replications (`ci95`)."""
    latency = report.get("latency_ms")
    latency = latency if isinstance(latency, Mapping) else {}
    cost = report.get("cost") if isinstance(report.get("cost"), Mapping) else {}
    error_rate, _ = verdicts.failure_rates(report.get("requests"))
    rows = [
        (
            "throughput",
            "Throughput",
            report.get("throughput_rps"),
            "rps",
            "throughput_rps",
        ),
        ("p50", "Latency p50", latency.get("p50"), "ms", "latency_ms.p50"),
        ("p95", "Latency p95", latency.get("p95"), "ms", "latency_ms.p95"),
        ("p99", "Latency p99", latency.get("p99"), "ms", "latency_ms.p99"),
    ]
    out = []
    for key, label, value, unit, ci_key in rows:
        out.append(
            {
                "key": key,
                "label": label,
                "value": _number(value),
                "unit": unit,
                "ci95": _interval(report, ci_key),
            }
        )
    interval = _error_rate_interval(report)
    out.append(
        {
            "key": "error_rate",
            "label": "Error rate",
            "value": None if error_rate is None else 100.0 * error_rate,
            "unit": "%",
            "ci95": (100.0 * interval[0], 100.0 * interval[1]) if interval else None,
        }
    )
    out.append(
        {
            "key": "cost",
            "label": "Cost per hour",
            "value": _number(cost.get("per_hour")),
            "unit": "$/h",
            "ci95": _interval(report, "cost.per_hour"),
        }
    )
    for row in out:
        row["text"] = figure_text(row["value"], row["unit"])
        ci = row["ci95"]
        row["ci_text"] = (
            f"{figure_text(ci[0], row['unit'])} \u2013 {figure_text(ci[1], row['unit'])}"
            if ci
            else ""
        )
    return out


def _compare_param(
    request: HttpRequest, run: Run, get_run: Callable[[str], Run]
) -> Run | None:
    """The run `?compare=` names, or None. Another user's run (or any run the
    caller may not view) is 404 from `get_run`, before anything is said about it;
    a run of another scenario, this run itself or a run without a report is a
    BadInput."""
    raw = request.GET.get("compare", "").strip()
    if not raw:
        return None
    try:
        uuid.UUID(raw)
    except ValueError:
        raise BadInput("compare: must be a run id") from None
    other = get_run(raw)
    if other.pk == run.pk:
        raise BadInput("compare: pick another run than this one")
    if run.scenario_id is None or other.scenario_id != run.scenario_id:
        raise BadInput(
            "compare: that run is of another scenario; a run is compared with runs "
            "of its own scenario"
        )
    if not isinstance(other.report, Mapping):
        raise BadInput("compare: that run has no report")
    return other


def summary_context(
    *, run: Run, compare: Run | None, share: Shared | None = None
) -> dict[str, Any]:
    report = run.report if isinstance(run.report, Mapping) else None
    other_report = compare.report if compare is not None else None
    events = []
    if report and isinstance(report.get("event_log"), list):
        events = [e for e in report["event_log"] if isinstance(e, Mapping)]
    parts = selectors.run_parts_figures(run=run)
    choices = selectors.run_compare_choices(run=run) if report else []
    compare_version = (
        selectors.run_version_number(run=compare) if compare is not None else None
    )
    chart = timeline.chart_data(report, other_report) if report else None
    if chart is not None and compare is not None:
        chart["compare_label"] = compare.name + (
            f" v{compare_version}" if compare_version else ""
        )
    return {
        "run": run,
        "share": share,
        "report": report,
        "verdict": verdicts.run_verdict(run),
        "version_number": selectors.run_version_number(run=run),
        "headline": headline(report) if report else [],
        "components": timeline.component_rows(report),
        "events": events[:EVENTS_SHOWN],
        "events_total": len(events),
        "events_several": any(e.get("replication") for e in events),
        "parts": parts,
        "compare": compare,
        "compare_version": compare_version,
        "compare_choices": choices,
        "deltas": diff.report_metrics_compare(old=other_report, new=report)
        if report and other_report
        else [],
        "chart": chart,
        "window_count": len(timeline.windows(report)),
        "max_chart_points": timeline.MAX_CHART_POINTS,
    }


def _summary(
    request: HttpRequest,
    run: Run,
    get_run: Callable[[str], Run],
    share: Shared | None = None,
) -> HttpResponse:
    try:
        compare = _compare_param(request, run, get_run)
    except BadInput as exc:
        return _bad(str(exc))
    return render(
        request,
        "runs/summary.html",
        summary_context(run=run, compare=compare, share=share),
    )


@login_required
@refuse_unstorable_text
@require_safe
def run_summary(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    run = selectors.run_get_for_user(user=request.user, run_id=run_id)
    return _summary(
        request,
        run,
        lambda other: selectors.run_get_for_user(user=request.user, run_id=other),
    )


# --- Exports --------------------------------------------------------------------------

#: What a spreadsheet reads as a formula at the start of a cell.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_safe(value: Any) -> Any:
    """A text cell a spreadsheet shows as text: a leading formula character gets a
    quote before it (OWASP's advice for CSV injection). Numbers pass as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def timeline_csv(run: Run) -> HttpResponse:
    """One row per window: the run's name (as text), then `export_columns`."""
    report = run.report if isinstance(run.report, Mapping) else None
    if report is None:
        raise Http404("This run has no report yet.")
    columns = timeline.export_columns(report)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["run", *columns])
    name = csv_safe(run.name)
    for row in timeline.export_rows(report):
        writer.writerow(
            [name, *("" if row[c] is None else csv_safe(row[c]) for c in columns)]
        )
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="timeline-{run.pk}.csv"'
    return response


def timeline_json(run: Run) -> HttpResponse:
    report = run.report if isinstance(run.report, Mapping) else None
    if report is None:
        raise Http404("This run has no report yet.")
    body = {
        "run": {
            "id": str(run.pk),
            "name": run.name,
            "status": run.status,
            "scenario": run.scenario_id,
            "version": selectors.run_version_number(run=run),
            "seed": run.seed,
        },
        "columns": timeline.export_columns(report),
        "rows": list(timeline.export_rows(report)),
    }
    response = HttpResponse(
        json.dumps(body, ensure_ascii=False), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="timeline-{run.pk}.json"'
    return response


@login_required
@require_safe
def run_timeline_csv(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    return timeline_csv(selectors.run_get_for_user(user=request.user, run_id=run_id))


@login_required
@require_safe
def run_timeline_json(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    return timeline_json(selectors.run_get_for_user(user=request.user, run_id=run_id))


# --- Delete ---------------------------------------------------------------------------


@login_required
@refuse_unstorable_text
@require_http_methods(GET_OR_POST)
def run_delete(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    """GET: what deleting takes away, and a button to confirm; POST (confirm=yes):
    delete. EDIT on the run (403 for a viewer, 404 for anyone who may not see it);
    a queued or running run is 409 with the reason."""
    run = selectors.run_get_for_user(user=request.user, run_id=run_id, perm=Perm.EDIT)
    ctx = {
        "run": run,
        "verdict": verdicts.run_verdict(run),
        "version_number": selectors.run_version_number(run=run),
        "snapshot_count": selectors.run_snapshots_behind(run_id=run.pk, after_seq=-1),
        "part_count": run.parts.count(),
        "who_may_delete": WHO_MAY_DELETE,
    }
    if request.method != "POST":
        if run.status in Run.ACTIVE:
            ctx["error"] = str(services.RunActive(run))
        return render(request, "runs/delete.html", ctx)
    if request.POST.get("confirm") != "yes":
        ctx["error"] = "confirm: confirm the deletion with the “Delete” button."
        return render(request, "runs/delete.html", ctx, status=400)
    try:
        services.run_delete(run=run)
    except services.RunActive as exc:
        ctx["error"] = str(exc)
        return render(request, "runs/delete.html", ctx, status=409)
    messages.success(request, f"Deleted the run “{run.name}”.")
    target = reverse("run_list")
    if run.scenario_id is not None:
        target += f"?scenario={run.scenario_id}"
    return redirect(target)


# --- Shared (read-only, by a link's token) -------------------------------------------


@shared()
def shared_run_summary(
    request: HttpRequest, share: Shared, run_id: uuid.UUID
) -> HttpResponse:
    run = sharing_selectors.shared_run_get(link=share.link, run_id=run_id)
    run.perms = frozenset({Perm.VIEW})
    return _summary(
        request,
        run,
        lambda other: sharing_selectors.shared_run_get(link=share.link, run_id=other),
        share=share,
    )


@shared()
def shared_run_timeline_csv(
    request: HttpRequest, share: Shared, run_id: uuid.UUID
) -> HttpResponse:
    return timeline_csv(
        sharing_selectors.shared_run_get(link=share.link, run_id=run_id)
    )


@shared()
def shared_run_timeline_json(
    request: HttpRequest, share: Shared, run_id: uuid.UUID
) -> HttpResponse:
    return timeline_json(
        sharing_selectors.shared_run_get(link=share.link, run_id=run_id)
    )
