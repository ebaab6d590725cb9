"""The API's run endpoints (mounted by api.py)."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import Http404

#: Deepest nesting a request body may have (the bodies here are flat objects).
from ninja import Query, Router, Status

from dashboard.access import Perm
from dashboard.api import schemas, services
from dashboard.api.errors import BadInput
from dashboard.api.shaping import (
    _ERRORS,
    SNAPSHOTS_DEFAULT,
    SNAPSHOTS_MAX,
    _run_out,
    _user,
)
from dashboard.runs import selectors as run_selectors
from dashboard.runs import services as run_services
from dashboard.runs.models import Run
from dashboard.scenarios.selectors import (
    scenario_get_for_user,
    scenario_version_get,
)

router = Router()


# --- Runs --------------------------------------------------------------------------


@router.post(
    "/runs",
    response={
        201: schemas.RunOut,
        **_ERRORS,
        403: schemas.ErrorOut,
        409: schemas.ErrorOut,
        429: schemas.ErrorOut,
    },
    tags=["runs"],
    url_name="run_create",
)
def run_create(request, payload: schemas.RunIn):
    """Queue a run of a stored version (`version`), or of `document`, saved first
    as a new version as the editor's Run saves it. One of the two."""
    if (payload.version is None) == (payload.document is None):
        raise BadInput("version", "give either version or document (one of them)")
    user = _user(request)
    scenario = scenario_get_for_user(user=user, pk=payload.scenario, perm=Perm.EDIT)
    version = (
        scenario_version_get(scenario=scenario, number=payload.version)
        if payload.version is not None
        else None
    )
    run = services.api_run_start(
        owner=user,
        scenario=scenario,
        version=version,
        document=payload.document,
        message=payload.message,
        base_version=payload.base_version,
        seed=payload.seed,
        pace=payload.pace,
    )
    run = run_selectors.run_get_for_user(user=user, run_id=run.pk)
    return Status(201, _run_out(request, run))


def _run(request, run_id: uuid.UUID, perm: Perm = Perm.VIEW) -> Run:
    return run_selectors.run_get_for_user(user=_user(request), run_id=run_id, perm=perm)


@router.get(
    "/runs/{run_id}",
    response={200: schemas.RunOut, **_ERRORS},
    tags=["runs"],
    url_name="run_detail",
)
def run_detail(request, run_id: uuid.UUID):
    """Where the run stands: status, progress, error, and the verdict once its
    report is in (objectives met, error rate, throughput, latency)."""
    run = _run(request, run_id)
    # A run whose worker died is never answered as running: reap it first.
    if run.status in Run.ACTIVE and any(
        run_services.runs_reap_stale(run_id=run.pk).values()
    ):
        run = _run(request, run_id)
    return _run_out(request, run)


@router.get(
    "/runs/{run_id}/report",
    response={200: dict[str, Any], **_ERRORS},
    tags=["runs"],
    url_name="run_report",
)
def run_report(request, run_id: uuid.UUID):
    """The run's report (format 1, as `python -m simengine run --json` prints
    it); 404 until the run has one."""
    run = _run(request, run_id)
    if not run.report:
        raise Http404("This run has no report yet.")
    return run.report


@router.get(
    "/runs/{run_id}/snapshots",
    response={200: schemas.SnapshotPage, **_ERRORS},
    tags=["runs"],
    url_name="run_snapshots",
)
def run_snapshots(
    request,
    run_id: uuid.UUID,
    after: int = Query(-1, ge=-1),
    limit: int = Query(SNAPSHOTS_DEFAULT, ge=1, le=SNAPSHOTS_MAX),
):
    """Stored snapshots with seq > `after`, oldest first, at most `limit`; ask
    again with `after=next_after` while `more` is true (or the run is active)."""
    run = _run(request, run_id)
    rows = run_selectors.run_snapshot_page(
        run_id=run.pk, after_seq=after, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "run": run.pk,
        "status": run.status,
        "after": after,
        "next_after": rows[-1][0] if rows else after,
        "more": more,
        "items": [data for _seq, data in rows],
    }


@router.post(
    "/runs/{run_id}/cancel",
    response={200: schemas.CancelOut, **_ERRORS, 403: schemas.ErrorOut},
    tags=["runs"],
    url_name="run_cancel",
)
def run_cancel(request, run_id: uuid.UUID):
    """Cancel a queued or running run; `cancelled` is false when it had ended."""
    run = _run(request, run_id, Perm.EDIT)
    cancelled = run_services.run_cancel(run=run)
    return {"cancelled": cancelled, "run": _run_out(request, _run(request, run_id))}
