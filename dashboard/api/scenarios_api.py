"""The API's scenario and version endpoints (mounted by api.py)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404

#: Deepest nesting a request body may have (the bodies here are flat objects).
from ninja import Path, Query, Router, Status

import simengine
from dashboard.access import Perm
from dashboard.api import schemas, services
from dashboard.api.shaping import (
    _ERRORS,
    PAGE_DEFAULT,
    PAGE_MAX,
    _page,
    _scenario_out,
    _summary,
    _user,
    _version_out,
)
from dashboard.runs import services as run_services
from dashboard.scenarios.selectors import (
    scenario_get_for_user,
    scenario_list_for_user,
    scenario_version_get,
)
from dashboard.scenarios.services import scenario_version_create
from dashboard.teams.models import Team
from dashboard.teams.selectors import teams_for_user, teams_where_user_may

router = Router()


# --- Scenarios ---------------------------------------------------------------------


@router.get(
    "/scenarios",
    response={200: schemas.ScenarioPage, **_ERRORS},
    tags=["scenarios"],
    url_name="scenario_list",
)
def scenario_list(
    request,
    limit: int = Query(PAGE_DEFAULT, ge=1, le=PAGE_MAX),
    offset: int = Query(0, ge=0, le=schemas.NUMBER_MAX),
):
    """Your scenarios and your teams' (not the built-in examples), newest first."""
    from dashboard.access import scenario_perms

    user = _user(request)
    mine, _examples = scenario_list_for_user(user=user)  # with latest_number
    qs = mine.select_related("owner").order_by("-updated_at", "-pk")
    count, rows = _page(qs, limit, offset)
    items = [_scenario_out(request, s, scenario_perms(user, s)) for s in rows]
    return {"count": count, "limit": limit, "offset": offset, "items": items}


def _team_for_create(user, team_id: int | None) -> Team | None:
    """The team to create in: one where `user` edits (403 for a team they only
    view, 404 for one they are not in, as for any object)."""
    if team_id is None:
        return None
    team = teams_where_user_may(user=user, perm=Perm.EDIT).filter(pk=team_id).first()
    if team is not None:
        return team
    if teams_for_user(user=user).filter(pk=team_id).exists():
        raise PermissionDenied("You may not create scenarios in this team.")
    raise Http404("No such team.")


@router.post(
    "/scenarios",
    response={201: schemas.ScenarioOut, **_ERRORS, 403: schemas.ErrorOut},
    tags=["scenarios"],
    url_name="scenario_create",
)
def scenario_create(request, payload: schemas.ScenarioIn):
    """A new scenario with `document` as version 1: yours, or a team's."""
    user = _user(request)
    team = _team_for_create(user, payload.team)
    scenario = services.api_scenario_create(
        owner=user, document=payload.document, name=payload.name, team=team
    )
    scenario = scenario_get_for_user(user=user, pk=scenario.pk)
    return Status(201, _scenario_out(request, scenario))


@router.get(
    "/scenarios/{scenario_id}",
    response={200: schemas.ScenarioOut, **_ERRORS},
    tags=["scenarios"],
    url_name="scenario_detail",
)
def scenario_detail(request, scenario_id: int = Path(..., ge=1, le=schemas.ID_MAX)):
    scenario = scenario_get_for_user(user=_user(request), pk=scenario_id)
    return _scenario_out(request, scenario)


@router.get(
    "/scenarios/{scenario_id}/versions",
    response={200: schemas.VersionPage, **_ERRORS},
    tags=["scenarios"],
    url_name="version_list",
)
def version_list(
    request,
    scenario_id: int = Path(..., ge=1, le=schemas.ID_MAX),
    limit: int = Query(PAGE_DEFAULT, ge=1, le=PAGE_MAX),
    offset: int = Query(0, ge=0, le=schemas.NUMBER_MAX),
):
    """The scenario's versions, newest first (without their text)."""
    scenario = scenario_get_for_user(user=_user(request), pk=scenario_id)
    qs = (
        scenario.versions.select_related("author")
        .defer("document_text", "layout")
        .order_by("-number")
    )
    count, rows = _page(qs, limit, offset)
    items = [_version_out(request, v) for v in rows]
    return {"count": count, "limit": limit, "offset": offset, "items": items}


@router.get(
    "/scenarios/{scenario_id}/versions/{number}",
    response={200: schemas.VersionDetailOut, **_ERRORS},
    tags=["scenarios"],
    url_name="version_detail",
)
def version_detail(
    request,
    scenario_id: int = Path(..., ge=1, le=schemas.ID_MAX),
    number: int = Path(..., ge=1, le=schemas.NUMBER_MAX),
):
    """One version: its document text and the parsed summary."""
    scenario = scenario_get_for_user(user=_user(request), pk=scenario_id)
    version = scenario_version_get(scenario=scenario, number=number)
    try:
        doc = run_services.run_document_parse(text=version.document_text)
        summary, errors = _summary(doc), []
    except simengine.DocumentError as exc:
        summary = None
        errors = [{"path": e.path, "message": e.message} for e in exc.errors]
    return {
        **_version_out(request, version),
        "scenario": scenario.pk,
        "document": version.document_text,
        "summary": summary,
        "errors": errors,
    }


@router.post(
    "/scenarios/{scenario_id}/versions",
    response={
        201: schemas.VersionOut,
        **_ERRORS,
        403: schemas.ErrorOut,
        409: schemas.ErrorOut,
    },
    tags=["scenarios"],
    url_name="version_create",
)
def version_create(
    request,
    payload: schemas.VersionIn,
    scenario_id: int = Path(..., ge=1, le=schemas.ID_MAX),
):
    """Save `document` as the next version; with `base_version`, a save that
    another one overtook is refused (409, with the latest version's number)."""
    user = _user(request)
    scenario = scenario_get_for_user(user=user, pk=scenario_id, perm=Perm.EDIT)
    version = scenario_version_create(
        scenario=scenario,
        text=payload.document,
        author=user,
        message=payload.message,
        base_version=payload.base_version,
    )
    return Status(201, _version_out(request, version))
