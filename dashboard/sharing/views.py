"""Pages reached through a share link, under /s/<token>/: no login, VIEW only, on
the link's one scenario. Every method but GET and HEAD answers 403 (the designer's
canvas round trip excepted: it saves nothing); an unknown, revoked or expired token
404s. Each response keeps the token out of referrers, caches and search engines.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseForbidden,
)
from django.shortcuts import render
from django.views import defaults

from dashboard.access import Perm
from dashboard.inputs import bad_field
from dashboard.runs.views import report_json_response, run_context
from dashboard.scenarios import designer
from dashboard.scenarios import selectors as scenario_selectors
from dashboard.scenarios.designer_views import apply_json
from dashboard.scenarios.version_views import diff_context
from dashboard.sharing import selectors
from dashboard.sharing.models import ShareLink

READ_METHODS = ("GET", "HEAD")
SHARED_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}


@dataclass(frozen=True)
class Shared:
    """What a shared page knows about the link it was reached by."""

    link: ShareLink
    token: str

    @property
    def by(self) -> str:
        user = self.link.created_by
        return user.get_username() if user is not None else "a former member"


def _private(response: HttpResponse) -> HttpResponse:
    # The token is in the URL: no cache may keep the page, no referrer may carry
    # the URL away, no search engine may list it.
    response["Cache-Control"] = "private, no-store"
    for name, value in SHARED_HEADERS.items():
        response[name] = value
    return response


def shared(*, methods: tuple[str, ...] = READ_METHODS) -> Callable:
    """Decorate a view of a shared page: `view(request, shared, ...)`. Any method
    not in `methods` is 403 (never 405: nothing may be written through a link); a
    query parameter that cannot be stored is 400 (as `refuse_unstorable_text`)."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, token: str, **kwargs) -> HttpResponse:
            problem = bad_field(request)
            if problem:
                return _private(
                    HttpResponseBadRequest(problem, content_type="text/plain")
                )
            if request.method not in methods:
                return _private(
                    HttpResponseForbidden(
                        "A shared link is read-only.", content_type="text/plain"
                    )
                )
            try:
                link = selectors.share_link_get(token=token)
                scenario = link.scenario
                scenario.perms = frozenset({Perm.VIEW})
                response = view(request, Shared(link=link, token=token), **kwargs)
            except Http404 as exc:
                response = defaults.page_not_found(request, exc)
            return _private(response)

        return wrapped

    return decorate


def _versions(scenario):
    return scenario.versions.only(
        "number", "message", "created_at", "scenario_id", "author"
    ).select_related("author")[:50]


def _runs(scenario, limit: int = 10):
    return scenario.runs.select_related("version").only(
        "id", "status", "created_at", "scenario_id", "name", "version__number"
    )[:limit]


@shared()
def shared_scenario(request: HttpRequest, share: Shared) -> HttpResponse:
    """The designer, read-only, on the latest version (or `?version=N`)."""
    scenario = share.link.scenario
    shown = scenario.latest_version
    if request.GET.get("version"):
        try:
            number = int(request.GET["version"])
        except ValueError:
            number = -1
        shown = scenario_selectors.scenario_version_get(
            scenario=scenario, number=number
        )
    return render(
        request,
        "sharing/scenario.html",
        {
            "share": share,
            "scenario": scenario,
            "shown": shown,
            "text": shown.document_text if shown else "",
            "layout": shown.layout if shown else {},
            "versions": _versions(scenario),
            "runs": _runs(scenario),
            "vocabulary": designer.vocabulary(),
        },
    )


@shared(methods=("POST",))
def shared_designer_apply(request: HttpRequest, share: Shared) -> HttpResponse:
    """The read-only designer's canvas round trip (`designer_apply`'s contract):
    it draws the document; nothing is saved."""
    return apply_json(request)


@shared()
def shared_version(request: HttpRequest, share: Shared, number: int) -> HttpResponse:
    scenario = share.link.scenario
    version = scenario_selectors.scenario_version_get(scenario=scenario, number=number)
    return render(
        request,
        "sharing/version.html",
        {
            "share": share,
            "scenario": scenario,
            "version": version,
            "latest": scenario.latest_version,
            "runs": scenario.runs.filter(version=version).only(
                "id", "status", "created_at", "scenario_id"
            )[:20],
        },
    )


@shared()
def shared_diff(request: HttpRequest, share: Shared, a: int, b: int) -> HttpResponse:
    """Version `a` against version `b` (the `diff` region of scenario_diff)."""
    scenario = share.link.scenario
    old = scenario_selectors.scenario_version_get(scenario=scenario, number=a)
    new = scenario_selectors.scenario_version_get(scenario=scenario, number=b)
    ctx = diff_context(scenario=scenario, old=old, new=new)
    return render(request, "sharing/diff.html", {**ctx, "share": share})


@shared()
def shared_run_list(request: HttpRequest, share: Shared) -> HttpResponse:
    scenario = share.link.scenario
    return render(
        request,
        "sharing/runs.html",
        {"share": share, "scenario": scenario, "runs": _runs(scenario, limit=200)},
    )


@shared()
def shared_run(request: HttpRequest, share: Shared, run_id: uuid.UUID) -> HttpResponse:
    run = selectors.shared_run_get(link=share.link, run_id=run_id)
    run.perms = frozenset({Perm.VIEW})
    return render(request, "runs/detail.html", {**run_context(run), "share": share})


@shared()
def shared_run_report(
    request: HttpRequest, share: Shared, run_id: uuid.UUID
) -> HttpResponse:
    """The report region run.js fetches when the run finishes."""
    run = selectors.shared_run_get(link=share.link, run_id=run_id)
    return render(
        request,
        "runs/detail.html#report",
        {**run_context(run, page=False), "share": share},
    )


@shared()
def shared_run_report_json(
    request: HttpRequest, share: Shared, run_id: uuid.UUID
) -> HttpResponse:
    run = selectors.shared_run_get(link=share.link, run_id=run_id)
    return report_json_response(run)
