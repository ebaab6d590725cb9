"""The HTTP API for pipelines and scripts: `/api/v1/` on django-ninja (docs/api.md).

Thin over the apps' services and selectors, as the views are: every object is
reached through `scenario_get_for_user` or `run_get_for_user` with the permission
the call needs (404 for what the caller may not see, 403 for what they may see but
not do). Only `Authorization: Bearer <token>` signs a request in (no session, so no
CSRF question); each token is held to `API_RATE_PER_MINUTE` requests a minute.
Every error is JSON, `{"detail": ..., "errors": [{"path", "message"}]}` where a
field is at fault.
"""

from __future__ import annotations

import json
import uuid
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI, Path, Query, Status
from ninja.errors import HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.openapi.docs import DocsBase
from ninja.parser import Parser
from ninja.security import HttpBearer

import simengine
from dashboard.access import Perm
from dashboard.api import schemas, selectors, services
from dashboard.api.ratelimit import rate_limit_hit
from dashboard.inputs import bad_field, unstorable
from dashboard.runs import selectors as run_selectors
from dashboard.runs import services as run_services
from dashboard.runs.models import Run
from dashboard.runs.services import RunLimitExceeded
from dashboard.runs.verdicts import run_verdict
from dashboard.scenarios.lifecycle import ScenarioError
from dashboard.scenarios.models import Scenario, ScenarioVersion
from dashboard.scenarios.selectors import (
    scenario_get_for_user,
    scenario_list_for_user,
    scenario_version_get,
)
from dashboard.scenarios.services import VersionConflict, scenario_version_create
from dashboard.teams.models import Team
from dashboard.teams.selectors import teams_for_user, teams_where_user_may

#: Deepest nesting a request body may have (the bodies here are flat objects).
MAX_BODY_DEPTH = 16
PAGE_DEFAULT, PAGE_MAX = 50, 200
SNAPSHOTS_DEFAULT, SNAPSHOTS_MAX = 100, 500


# --- Errors ------------------------------------------------------------------------


class Unauthorized(Exception):
    """No usable token: a 401 saying why."""


class RateLimited(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(retry_after_s)
        self.retry_after_s = retry_after_s


class BadInput(Exception):
    """A request field that cannot be taken: a 400 naming it."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


# --- The request body: JSON, bounded, storable text only ---------------------------


def _refuse_unstorable(value: Any, path: str) -> None:
    """Every string (and key) of the parsed body must be storable text: NUL and
    lone surrogates are refused naming the field (`dashboard.inputs`)."""
    if isinstance(value, str):
        problem = unstorable(value)
        if problem:
            raise BadInput(path or "body", problem)
    elif isinstance(value, dict):
        for key, item in value.items():
            problem = unstorable(key)
            if problem:
                raise BadInput(f"{path}.{key!r}" if path else repr(key), problem)
            _refuse_unstorable(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _refuse_unstorable(item, f"{path}[{i}]")


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


class BodyParser(Parser):
    """JSON bodies only, UTF-8, nested at most MAX_BODY_DEPTH deep (json.loads
    recurses), no NaN or Infinity, and nothing PostgreSQL cannot store."""

    def parse_body(self, request: HttpRequest) -> dict:
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadInput("body", f"is not UTF-8 text ({exc.reason})") from None
        if simengine.json_depth(text) > MAX_BODY_DEPTH:
            raise BadInput("body", f"is nested more than {MAX_BODY_DEPTH} deep")
        try:
            data = json.loads(text, parse_constant=_no_constant)
        except ValueError as exc:
            raise BadInput("body", f"is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise BadInput("body", "must be a JSON object")
        _refuse_unstorable(data, "")
        return data


# --- Authentication and the rate limit ---------------------------------------------


class BearerToken(HttpBearer):
    """`Authorization: Bearer sb_...`: the token's user signs the request in,
    within the token's rate limit."""

    def __call__(self, request: HttpRequest) -> Any:
        header = request.headers.get("Authorization", "")
        if not header.strip():
            raise Unauthorized("missing token: send Authorization: Bearer <token>")
        scheme, _, secret = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthorized(
                "malformed Authorization header: expected Bearer <token>"
            )
        return self.authenticate(request, secret.strip())

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        try:
            row = selectors.token_for_secret(secret=token)
        except selectors.TokenRefused as exc:
            raise Unauthorized(str(exc)) from None
        retry_after = rate_limit_hit(token_hash=row.token_hash)
        if retry_after is not None:
            raise RateLimited(retry_after)
        services.token_touch(token=row)
        request.user = row.user
        problem = bad_field(request)  # query parameters, as every page refuses them
        if problem:
            field, _, message = problem.partition(": ")
            raise BadInput(field, message)
        return row


# --- The docs page: Swagger UI from our static files, under the CSP ---------------


class SwaggerUnderCsp(DocsBase):
    """Swagger UI as ninja bundles it (ninja/static/ninja/), served from our static
    files, set up by static/js/api-docs.js from a JSON data element: no inline
    script, no CDN."""

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any):
        return render(
            request,
            "api/docs.html",
            {
                "api": api,
                "swagger_settings": {
                    "url": self.get_openapi_url(api, kwargs),
                    "layout": "BaseLayout",
                    "deepLinking": True,
                    "persistAuthorization": False,
                },
            },
        )


class ScaleboardApi(NinjaAPI):
    def create_response(self, request, data, *, status=None, temporal_response=None):
        response = super().create_response(
            request, data, status=status, temporal_response=temporal_response
        )
        # One user's data, read with their token: no cache keeps it.
        patch_cache_control(response, private=True, no_store=True)
        return response


api = ScaleboardApi(
    title="Scaleboard API",
    version="1",
    description="Scenarios, versions and runs for pipelines and scripts "
    "(docs/api.md). Authenticate with `Authorization: Bearer <token>`; make a "
    "token under your account, at /account/tokens/.",
    urls_namespace="api",
    auth=BearerToken(),
    parser=BodyParser(),
    docs=SwaggerUnderCsp(),
)


def _error(
    request: HttpRequest,
    status: int,
    detail: str,
    errors: list[dict] | None = None,
    **extra: Any,
) -> HttpResponse:
    body: dict[str, Any] = {"detail": detail}
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return api.create_response(request, body, status=status)


@api.exception_handler(Unauthorized)
def _unauthorized(request, exc):
    response = _error(request, 401, str(exc))
    response["WWW-Authenticate"] = 'Bearer realm="scaleboard"'
    return response


@api.exception_handler(RateLimited)
def _rate_limited(request, exc):
    from django.conf import settings

    response = _error(
        request,
        429,
        f"rate limit: {settings.API_RATE_PER_MINUTE} requests a minute per token; "
        f"retry in {exc.retry_after_s} s",
    )
    response["Retry-After"] = str(exc.retry_after_s)
    return response


@api.exception_handler(BadInput)
def _bad_input(request, exc):
    return _error(
        request,
        400,
        f"{exc.path}: {exc.message}",
        [{"path": exc.path, "message": exc.message}],
    )


@api.exception_handler(HttpError)
def _http_error(request, exc):
    # The body parser's own refusal arrives wrapped by ninja ("Cannot parse request
    # body"): answer with what it said.
    if isinstance(exc.__cause__, BadInput):
        return _bad_input(request, exc.__cause__)
    return _error(request, exc.status_code, str(exc))


def _loc_path(loc: list | tuple) -> str:
    """ninja's error location as the field's path: ("body", "payload", "seed") is
    "seed", ("query", "limit") is "limit"."""
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[2:] if len(parts) > 2 else []
        return ".".join(parts) or "body"
    if not parts:
        return "request"
    return ".".join(parts[1:]) or parts[0]


@api.exception_handler(NinjaValidationError)
def _invalid_request(request, exc):
    errors = [
        {"path": _loc_path(e.get("loc", ())), "message": e.get("msg", "is invalid")}
        for e in exc.errors
    ]
    first = errors[0] if errors else {"path": "request", "message": "is invalid"}
    return _error(request, 400, f"{first['path']}: {first['message']}", errors)


@api.exception_handler(simengine.DocumentError)
def _invalid_document(request, exc):
    errors = [{"path": e.path, "message": e.message} for e in exc.errors]
    return _error(request, 400, "invalid document", errors)


@api.exception_handler(ScenarioError)
def _scenario_error(request, exc):
    field = exc.field or "name"
    return _error(
        request, 400, f"{field}: {exc}", [{"path": field, "message": str(exc)}]
    )


@api.exception_handler(VersionConflict)
def _conflict(request, exc):
    return _error(
        request,
        409,
        f"version conflict: version {exc.latest.number} was saved in the meantime",
        latest_version=exc.latest.number,
    )


@api.exception_handler(RunLimitExceeded)
def _run_limit(request, exc):
    return _error(request, 429, str(exc))


@api.exception_handler(Http404)
def _not_found(request, exc):
    return _error(request, 404, str(exc) or "Not found.")


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc):
    return _error(request, 403, str(exc) or "Forbidden.")


@api.exception_handler(RequestDataTooBig)
def _too_big(request, exc):
    from django.conf import settings

    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return _error(request, 413, f"body: the request body is over {limit} bytes")


# --- Shaping the answers -----------------------------------------------------------


def _url(request: HttpRequest, name: str, **kwargs: Any) -> str:
    return request.build_absolute_uri(reverse(name, kwargs=kwargs))


def _scenario_out(request: HttpRequest, scenario: Scenario, perms=None) -> dict:
    perms = perms if perms is not None else getattr(scenario, "perms", ())
    latest = getattr(scenario, "latest_number", None)
    if latest is None and not hasattr(scenario, "latest_number"):
        version = scenario.latest_version
        latest = version.number if version else None
    return {
        "id": scenario.pk,
        "name": scenario.name,
        "description": scenario.description,
        "owner": scenario.owner.username if scenario.owner_id else None,
        "team": (
            {"id": scenario.team_id, "name": scenario.team.name}
            if scenario.team_id
            else None
        ),
        "is_example": scenario.is_example,
        "latest_version": latest,
        "permissions": sorted(str(p) for p in perms),
        "created_at": scenario.created_at,
        "updated_at": scenario.updated_at,
        "url": _url(request, "scenario_detail", pk=scenario.pk),
    }


def _version_out(request: HttpRequest, version: ScenarioVersion) -> dict:
    return {
        "number": version.number,
        "message": version.message,
        "author": version.author.username if version.author_id else None,
        "created_at": version.created_at,
        "url": _url(
            request,
            "scenario_version",
            pk=version.scenario_id,
            number=version.number,
        ),
    }


def _summary(doc: simengine.Document) -> dict:
    sim = doc.simulation
    return {
        "name": doc.name,
        "description": doc.description,
        "components": {cid: c.type for cid, c in doc.components.items()},
        "workload": {"target": doc.workload.target, "rps": doc.workload.rps},
        "simulation": {
            "duration_s": sim.duration_s,
            "warmup_s": sim.warmup_s,
            "snapshot_s": sim.snapshot_s,
            "seed": sim.seed,
            "replications": sim.replications,
        },
        "objectives": (
            doc.objectives.model_dump(mode="json", exclude_none=True)
            if doc.objectives is not None
            else None
        ),
    }


def _verdict(run: Run) -> dict | None:
    """The run page's verdict (`runs.verdicts.run_verdict`, one definition), with
    the report's objective checks and headline figures; None while it is active."""
    verdict = run_verdict(run)
    if verdict is None:
        return None
    report = run.report if isinstance(run.report, dict) else {}
    objectives = report.get("objectives") or {}
    latency = report.get("latency_ms") or {}
    total = verdict.objectives_total
    return {
        "label": verdict.label,
        "level": verdict.level,
        "objectives_met": (verdict.objectives_met == total) if total else None,
        "objectives": {"met": verdict.objectives_met, "total": total}
        if total
        else None,
        "checks": list(objectives.get("checks") or []),
        "error_rate": verdict.error_rate,
        "degraded": verdict.degraded,
        "partial": verdict.partial,
        "throughput_rps": report.get("throughput_rps"),
        "latency_ms": {k: latency.get(k) for k in ("p50", "p95", "p99")},
    }


def _run_out(request: HttpRequest, run: Run) -> dict:
    return {
        "id": run.pk,
        "name": run.name,
        "status": run.status,
        "progress": run.progress,
        "error": run.error,
        "scenario": run.scenario_id,
        "version": run.version.number if run.version_id else None,
        "seed": run.seed,
        "pace": run.pace,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "verdict": _verdict(run),
        "url": _url(request, "run_detail", run_id=run.pk),
        "report_url": (
            request.build_absolute_uri(reverse("api:run_report", args=[run.pk]))
            if run.report
            else None
        ),
    }


def _page(qs, limit: int, offset: int) -> tuple[int, list]:
    return qs.count(), list(qs[offset : offset + limit])


def _user(request: HttpRequest):
    return request.auth.user


# --- Scenarios ---------------------------------------------------------------------

_ERRORS = {400: schemas.ErrorOut, 401: schemas.ErrorOut, 404: schemas.ErrorOut}


@api.get(
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


@api.post(
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


@api.get(
    "/scenarios/{scenario_id}",
    response={200: schemas.ScenarioOut, **_ERRORS},
    tags=["scenarios"],
    url_name="scenario_detail",
)
def scenario_detail(request, scenario_id: int = Path(..., ge=1, le=schemas.ID_MAX)):
    scenario = scenario_get_for_user(user=_user(request), pk=scenario_id)
    return _scenario_out(request, scenario)


@api.get(
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


@api.get(
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


@api.post(
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


# --- Runs --------------------------------------------------------------------------


@api.post(
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


@api.get(
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


@api.get(
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


@api.get(
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


@api.post(
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


# Exempt for the reason the whole API is: no session signs it in. It only says 404.
@csrf_exempt
def _unknown_path(request: HttpRequest, rest: str) -> HttpResponse:
    return _error(request, 404, f"no such endpoint: /api/v1/{rest}")


def _json_answers(view):
    """ninja's own refusals, outside any operation (a method the path does not
    take: 405; the bare /api/v1/: 404), as JSON like every other error."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            response = view(request, *args, **kwargs)
        except Http404:
            return _error(request, 404, "no such endpoint: see /api/v1/docs")
        if response.status_code == 405 and not response.get(
            "Content-Type", ""
        ).startswith("application/json"):
            allowed = response.get("Allow", "")
            answer = _error(request, 405, f"method not allowed (allowed: {allowed})")
            answer["Allow"] = allowed
            return answer
        return response

    return wrapped


def api_urls():
    """The API's URL patterns (namespace "api"), answering JSON for a method a path
    does not take and for any other path under it, instead of the HTML pages."""
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        pattern.callback = _json_answers(pattern.callback)
    return (
        [*patterns, path("<path:rest>", _unknown_path, name="unknown")],
        app_name,
        namespace,
    )
