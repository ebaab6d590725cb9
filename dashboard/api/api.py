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
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils.cache import patch_cache_control
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.errors import HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.openapi.docs import DocsBase
from ninja.parser import Parser
from ninja.security import HttpBearer

import simengine
from dashboard.api import selectors, services

#: Deepest nesting a request body may have (the bodies here are flat objects).
from dashboard.api.errors import BadInput, RateLimited, Unauthorized
from dashboard.api.ratelimit import rate_limit_hit
from dashboard.api.shaping import MAX_BODY_DEPTH
from dashboard.inputs import bad_field, unstorable
from dashboard.runs.services import RunLimitExceeded
from dashboard.scenarios.lifecycle import ScenarioError
from dashboard.scenarios.services import VersionConflict
from dashboard.sweeps import services as sweep_services

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


@api.exception_handler(sweep_services.SweepError)
def _sweep_error(request, exc):
    return _error(
        request,
        400,
        f"{exc.field}: {exc.message}",
        [{"path": exc.field, "message": exc.message}],
    )


@api.exception_handler(sweep_services.SweepLimitExceeded)
def _sweep_limit(request, exc):
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


# --- The endpoints, by kind (each module a ninja Router) ---------------------------

from dashboard.api import runs_api, scenarios_api, sweeps_api  # noqa: E402

api.add_router("", scenarios_api.router)
api.add_router("", runs_api.router)
api.add_router("", sweeps_api.router)


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
