"""Sweep pages: start one from a scenario, the sweep page and its poll, cancel,
the points as CSV, a scenario's sweeps; the shared, read-only variants by a
share link's token (`/s/<token>/sweeps/<id>/`). Thin over services and selectors:
a sweep is reached only through `selectors.sweep_get_for_user` (or, shared, the
link's scenario)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import (
    require_http_methods,
    require_POST,
    require_safe,
)

import simengine
from dashboard.access import Perm
from dashboard.inputs import refuse_unstorable_text
from dashboard.runs import services as run_services
from dashboard.runs.limits import engine_limits
from dashboard.scenarios.models import ScenarioVersion
from dashboard.scenarios.selectors import scenario_get_for_user
from dashboard.sharing.views import Shared, shared
from dashboard.sweeps import selectors, services
from dashboard.sweeps.models import Sweep, SweepPoint

#: Numbers a values list may have (SWEEP_MAX_POINTS refuses more, naming it).
MAX_VALUES_TEXT = 4000


class FormError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _number(data, name: str, *, integer: bool = False) -> float | int | None:
    raw = (data.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise FormError(name, f"must be {kind} (got {raw[:40]!r})") from None
    if not integer and not math.isfinite(value):
        raise FormError(name, f"must be a finite number (got {raw[:40]!r})")
    if integer and abs(value) > 10**6:
        raise FormError(name, f"is out of range (got {raw[:40]!r})")
    return value


def _values(text: str) -> list[float] | None:
    text = text.strip()
    if not text:
        return None
    if len(text) > MAX_VALUES_TEXT:
        raise FormError("values", f"is over {MAX_VALUES_TEXT} characters")
    out = []
    for piece in text.replace(";", ",").replace("\n", ",").split(","):
        piece = piece.strip()
        if not piece:
            continue
        try:
            value = float(piece)
        except ValueError:
            raise FormError("values", f"{piece[:40]!r} is not a number") from None
        if not math.isfinite(value):
            raise FormError("values", f"{piece[:40]!r} is not a finite number")
        out.append(int(value) if value.is_integer() else value)
    return out


def _version(scenario, data, name: str) -> ScenarioVersion | None:
    raw = (data.get(name) or "").strip()
    if not raw:
        return None
    try:
        number = int(raw)
    except ValueError:
        raise FormError(name, "must be a version number") from None
    version = scenario.versions.filter(number=number).first()
    if version is None:
        raise FormError(name, f"this scenario has no version {number}")
    return version


def _form_context(scenario, version, data, error: FormError | None = None) -> dict:
    fields: list = []
    doc_error = ""
    if version is not None:
        try:
            tree = simengine.load_document_tree(
                version.document_text, limits=engine_limits()
            )
            fields = selectors.numeric_fields(tree)
        except simengine.DocumentError as exc:
            doc_error = str(exc)
    has_objectives = bool(version and "objectives:" in version.document_text)
    return {
        "scenario": scenario,
        "version": version,
        "versions": list(
            scenario.versions.order_by("-number").only("number", "message")
        ),
        "fields": fields,
        "doc_error": doc_error,
        "data": data,
        "error": error,
        "has_objectives": has_objectives,
        "kind": data.get("kind") or ("capacity" if has_objectives else "sweep"),
    }


@login_required
@refuse_unstorable_text
@require_http_methods(["GET", "HEAD", "POST"])
def sweep_new(request: HttpRequest, pk: int) -> HttpResponse:
    """The form (editors): the field to vary, sweep or capacity, A/B."""
    scenario = scenario_get_for_user(user=request.user, pk=pk, perm=Perm.EDIT)
    data = request.POST if request.method == "POST" else request.GET
    try:
        version = _version(scenario, data, "version") or scenario.latest_version
    except FormError as exc:
        version = scenario.latest_version
        return render(
            request,
            "sweeps/new.html",
            _form_context(scenario, version, data, exc),
            status=400,
        )
    if request.method != "POST":
        return render(request, "sweeps/new.html", _form_context(scenario, version, {}))
    try:
        kind = data.get("kind") or "sweep"
        sweep = services.sweep_create(
            owner=request.user,
            scenario=scenario,
            version=version,
            kind=kind,
            vary=data.get("vary") or "",
            values=_values(data.get("values") or "") if kind == "sweep" else None,
            start=_number(data, "from"),
            stop=_number(data, "to"),
            steps=_number(data, "steps", integer=True),
            low=_number(data, "low"),
            high=_number(data, "high"),
            resolution=_number(data, "resolution"),
            compare_version=_version(scenario, data, "compare"),
        )
    except (FormError, services.SweepError) as exc:
        return render(
            request,
            "sweeps/new.html",
            _form_context(scenario, version, data, exc),
            status=400,
        )
    except (services.SweepLimitExceeded, run_services.RunLimitExceeded) as exc:
        ctx = _form_context(scenario, version, data, FormError("limit", str(exc)))
        return render(request, "sweeps/new.html", ctx, status=429)
    return redirect("sweep_detail", sweep_id=sweep.pk)


def _detail_context(sweep: Sweep, share: Shared | None) -> dict:
    return {
        "sweep": sweep,
        "share": share,
        # workload.rps in a document with phases holds only until the first one
        "phase_note": simengine.phase_warning(sweep.version.document_text, sweep.vary),
        "data_url": (
            reverse("shared_sweep_data", args=[share.token, sweep.pk])
            if share
            else reverse("sweep_data", args=[sweep.pk])
        ),
        "csv_url": (
            reverse("shared_sweep_csv", args=[share.token, sweep.pk])
            if share
            else reverse("sweep_csv", args=[sweep.pk])
        ),
    }


def _run_url(share: Shared | None) -> Callable:
    if share:
        return lambda run_id: reverse("shared_run_summary", args=[share.token, run_id])
    return lambda run_id: reverse("run_summary", args=[run_id])


def _data(sweep: Sweep, share: Shared | None) -> dict:
    if sweep.status in Sweep.ACTIVE:
        # Catch up with a point whose signal was lost (its worker died between
        # the run's commit and the signal): advancing is idempotent.
        services.sweep_advance(sweep_id=sweep.pk)
        sweep.refresh_from_db()
    return selectors.sweep_data(sweep=sweep, run_url=_run_url(share))


@login_required
@require_safe
def sweep_detail(request: HttpRequest, sweep_id: int) -> HttpResponse:
    sweep = selectors.sweep_get_for_user(user=request.user, sweep_id=sweep_id)
    ctx = _detail_context(sweep, None)
    ctx["initial"] = _data(sweep, None)
    return render(request, "sweeps/detail.html", ctx)


@login_required
@require_safe
def sweep_data(request: HttpRequest, sweep_id: int) -> HttpResponse:
    """The page's poll: every point so far, the knee, the answer."""
    sweep = selectors.sweep_get_for_user(user=request.user, sweep_id=sweep_id)
    response = JsonResponse(_data(sweep, None))
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_POST
def sweep_cancel(request: HttpRequest, sweep_id: int) -> HttpResponse:
    sweep = selectors.sweep_get_for_user(
        user=request.user, sweep_id=sweep_id, perm=Perm.EDIT
    )
    services.sweep_cancel(sweep=sweep)
    return redirect("sweep_detail", sweep_id=sweep.pk)


CSV_COLUMNS = [
    "value",
    "series",
    "version",
    "status",
    "throughput_rps",
    "p50_ms",
    "p99_ms",
    "error_rate",
    "busiest",
    "utilization",
    "met",
    "run",
]


def _csv(sweep: Sweep) -> HttpResponse:
    versions = {"a": sweep.version.number}
    if sweep.compare_version_id:
        versions["b"] = sweep.compare_version.number
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    points = SweepPoint.objects.filter(sweep=sweep).order_by("series", "value")
    for p in points:
        f = p.figures or {}
        writer.writerow(
            [
                f"{p.value:g}",
                p.series,
                versions.get(p.series, ""),
                p.status or "active",
                *[
                    "" if f.get(k) is None else f.get(k)
                    for k in (
                        "throughput_rps",
                        "p50_ms",
                        "p99_ms",
                        "error_rate",
                        "busiest",
                        "utilization",
                    )
                ],
                "" if p.met is None else ("yes" if p.met else "no"),
                p.run_id or "",
            ]
        )
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="sweep-{sweep.pk}.csv"'
    return response


@login_required
@require_safe
def sweep_csv(request: HttpRequest, sweep_id: int) -> HttpResponse:
    sweep = selectors.sweep_get_for_user(user=request.user, sweep_id=sweep_id)
    return _csv(sweep)


@login_required
@require_safe
def sweep_list(request: HttpRequest, pk: int) -> HttpResponse:
    scenario = scenario_get_for_user(user=request.user, pk=pk)
    sweeps = list(selectors.sweeps_of_scenario(scenario=scenario)[:100])
    return render(request, "sweeps/list.html", {"scenario": scenario, "sweeps": sweeps})


# --- Shared, read-only ---------------------------------------------------------------


def _shared_sweep(share: Shared, sweep_id: int) -> Sweep:
    if not 0 < sweep_id <= selectors.ID_MAX:
        raise Http404("No such sweep.")
    sweep = (
        Sweep.objects.select_related("scenario", "version", "compare_version", "owner")
        .filter(pk=sweep_id, scenario_id=share.link.scenario_id)
        .first()
    )
    if sweep is None:
        raise Http404("No such sweep.")
    sweep.perms = frozenset({Perm.VIEW})
    return sweep


@shared()
def shared_sweep(request: HttpRequest, share: Shared, sweep_id: int) -> HttpResponse:
    sweep = _shared_sweep(share, sweep_id)
    ctx = _detail_context(sweep, share)
    ctx["initial"] = _data(sweep, share)
    return render(request, "sweeps/detail.html", ctx)


@shared()
def shared_sweep_data(
    request: HttpRequest, share: Shared, sweep_id: int
) -> HttpResponse:
    sweep = _shared_sweep(share, sweep_id)
    return JsonResponse(_data(sweep, share))


@shared()
def shared_sweep_csv(
    request: HttpRequest, share: Shared, sweep_id: int
) -> HttpResponse:
    return _csv(_shared_sweep(share, sweep_id))
