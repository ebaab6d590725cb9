"""The API's sweep and capacity endpoints (mounted by api.py)."""

from __future__ import annotations

from django.http import HttpRequest

#: Deepest nesting a request body may have (the bodies here are flat objects).
from ninja import Path, Router, Status

from dashboard.access import Perm
from dashboard.api import schemas
from dashboard.api.errors import BadInput
from dashboard.api.shaping import (
    _ERRORS,
    _url,
    _user,
)
from dashboard.scenarios.selectors import (
    scenario_get_for_user,
    scenario_version_get,
)
from dashboard.sweeps import schemas as sweep_schemas
from dashboard.sweeps import selectors as sweep_selectors
from dashboard.sweeps import services as sweep_services

router = Router()


# --- Sweeps (dashboard/sweeps, docs/sweeps.md) -------------------------------------


def _sweep_out(request: HttpRequest, sweep) -> dict:
    numbers = {"a": sweep.version.number}
    if sweep.compare_version_id:
        numbers["b"] = sweep.compare_version.number
    points = [
        {
            "value": p.value,
            "series": p.series,
            "version": numbers.get(p.series),
            "round": p.round,
            "status": p.status or (p.run.status if p.run else ""),
            "run": str(p.run_id) if p.run_id else None,
            "met": p.met,
            "figures": (
                {k: v for k, v in p.figures.items() if k != "report"}
                if p.figures
                else None
            ),
        }
        for p in sweep.points.select_related("run")
        .defer("run__report", "run__document_text")
        .order_by("series", "value")
    ]
    return {
        "id": sweep.pk,
        "scenario": sweep.scenario_id,
        "version": sweep.version.number,
        "compare_version": numbers.get("b"),
        "kind": sweep.kind,
        "vary": sweep.vary,
        "status": sweep.status,
        "error": sweep.error,
        "values": list(sweep.values or []),
        "low": sweep.low,
        "high": sweep.high,
        "resolution": sweep.resolution,
        "created_at": sweep.created_at,
        "finished_at": sweep.finished_at,
        "points": points,
        "result": sweep.result,
        "url": _url(request, "sweep_detail", sweep_id=sweep.pk),
    }


def _sweep(request, sweep_id: int, perm: Perm = Perm.VIEW):
    return sweep_selectors.sweep_get_for_user(
        user=_user(request), sweep_id=sweep_id, perm=perm
    )


@router.post(
    "/sweeps",
    response={
        201: sweep_schemas.SweepOut,
        **_ERRORS,
        403: schemas.ErrorOut,
        429: schemas.ErrorOut,
    },
    tags=["sweeps"],
    url_name="sweep_create",
)
def sweep_create(request, payload: sweep_schemas.SweepIn):
    """Start a sweep of a stored version (the latest unless `version`): `values`,
    or `from`/`to`/`steps`; or `kind: capacity` with optional `low`/`high` and
    `resolution`. `compare_version` runs every value on that version too (A/B)."""
    user = _user(request)
    scenario = scenario_get_for_user(user=user, pk=payload.scenario, perm=Perm.EDIT)
    version = (
        scenario_version_get(scenario=scenario, number=payload.version)
        if payload.version is not None
        else scenario.latest_version
    )
    if version is None:
        raise BadInput("version", "the scenario has no version")
    compare = None
    if payload.compare_version is not None:
        compare = scenario.versions.filter(number=payload.compare_version).first()
        if compare is None:
            raise BadInput(
                "compare_version",
                f"this scenario has no version {payload.compare_version}",
            )
    sweep = sweep_services.sweep_create(
        owner=user,
        scenario=scenario,
        version=version,
        kind=payload.kind,
        vary=payload.vary,
        values=payload.values,
        start=payload.start,
        stop=payload.to,
        steps=payload.steps,
        low=payload.low,
        high=payload.high,
        resolution=payload.resolution,
        compare_version=compare,
    )
    return Status(201, _sweep_out(request, _sweep(request, sweep.pk)))


@router.get(
    "/sweeps/{sweep_id}",
    response={200: sweep_schemas.SweepOut, **_ERRORS},
    tags=["sweeps"],
    url_name="sweep_detail",
)
def sweep_detail(request, sweep_id: int = Path(..., ge=1, le=schemas.ID_MAX)):
    """Where the sweep stands: status, the points so far (their figures), and for
    capacity the result once it is in."""
    sweep = _sweep(request, sweep_id)
    if sweep.status in sweep.ACTIVE:
        sweep_services.sweep_advance(sweep_id=sweep.pk)
        sweep = _sweep(request, sweep_id)
    return _sweep_out(request, sweep)


@router.post(
    "/sweeps/{sweep_id}/cancel",
    response={200: sweep_schemas.SweepCancelOut, **_ERRORS, 403: schemas.ErrorOut},
    tags=["sweeps"],
    url_name="sweep_cancel",
)
def sweep_cancel(request, sweep_id: int = Path(..., ge=1, le=schemas.ID_MAX)):
    """Cancel a sweep and every point run still active; `cancelled` is false when
    it had ended."""
    sweep = _sweep(request, sweep_id, Perm.EDIT)
    cancelled = sweep_services.sweep_cancel(sweep=sweep)
    return {
        "cancelled": cancelled,
        "sweep": _sweep_out(request, _sweep(request, sweep_id)),
    }
