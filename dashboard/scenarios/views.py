"""Scenario pages: list, editor (YAML for now), versions, examples, start a run."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import (
    require_http_methods,
    require_POST,
    require_safe,
)
from django_htmx.http import HttpResponseClientRedirect

import simengine
from dashboard.access import Perm
from dashboard.inputs import refuse_unstorable_text
from dashboard.runs.selectors import run_history_for_scenario
from dashboard.runs.services import RunLimitExceeded, run_start, run_start_version
from dashboard.runs.whatif_services import PACE_CHOICES, pace_parse
from dashboard.scenarios import designer, diff, selectors, services
from dashboard.scenarios.models import Scenario, ScenarioVersion
from dashboard.teams.selectors import teams_for_user


def _posted_document(request: HttpRequest) -> str:
    # Browsers submit a textarea with CRLF line breaks: store what the user saw.
    return request.POST.get("document", "").replace("\r\n", "\n")


@dataclass(frozen=True)
class _PostedVersion:
    """What the editor's form posts to be stored as a version: "Save version" and
    Run read it here, so both store the same text, layout and message."""

    text: str
    layout: dict
    message: str
    base_version: int | None


def _posted_version(request: HttpRequest, *, default_message: str) -> _PostedVersion:
    return _PostedVersion(
        text=_posted_document(request),
        layout=designer.layout_clean(request.POST.get("layout")),
        message=request.POST.get("message", "").strip() or default_message,
        base_version=_posted_base_version(request),
    )


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


@login_required
@refuse_unstorable_text
@require_safe
def scenario_list(request: HttpRequest) -> HttpResponse:
    """The user's scenarios and the examples: ?owner= all, mine, examples or
    team-<id>; ?q= searches names."""
    query = request.GET.get("q", "").strip()
    owner = request.GET.get("owner", selectors.OWNER_ALL)
    status = 200
    try:
        mine, examples = selectors.scenario_list_for_user(
            user=request.user, owner=owner, query=query
        )
        filter_error = ""
    except selectors.BadFilter as exc:
        mine, examples = Scenario.objects.none(), Scenario.objects.none()
        filter_error, status = str(exc), 400
    return render(
        request,
        "scenarios/list.html",
        {
            "scenarios": mine,
            "examples": examples,
            "query": query,
            "owner": owner,
            "owner_choices": _owner_choices(request),
            "filter_error": filter_error,
        },
        status=status,
    )


def _owner_choices(request: HttpRequest) -> list[tuple[str, str]]:
    teams = teams_for_user(user=request.user).order_by("name")
    return [
        (selectors.OWNER_ALL, "All"),
        (selectors.OWNER_MINE, "Mine"),
        *((f"team-{t.pk}", t.name) for t in teams),
        (selectors.OWNER_EXAMPLES, "Examples"),
    ]


@login_required
@refuse_unstorable_text
@require_POST
def example_copy(request: HttpRequest, slug: str) -> HttpResponse:
    example = selectors._get_example(slug=slug)
    scenario = services.scenario_copy_example(example=example, owner=request.user)
    return redirect("scenario_detail", pk=scenario.pk)


def _editor_context(scenario: Scenario, text: str, errors=None, **extra) -> dict:
    latest = scenario.latest_version
    return {
        "scenario": scenario,
        "text": text,
        "errors": errors or [],
        # The side lists show a few fields of each: never read the documents, the
        # layouts or the reports (hundreds of kilobytes) to draw them.
        "versions": scenario.versions.select_related("author").only(
            "number", "message", "created_at", "scenario_id", "author__username"
        )[:50],
        "runs": run_history_for_scenario(scenario=scenario, limit=10),
        # The version the editor is based on: a save checks nobody saved since.
        "base_version": latest.number if latest else 0,
        "vocabulary": designer.vocabulary(),
        "layout": {},
        "pace_choices": PACE_CHOICES,
        **extra,
    }


def _posted_base_version(request: HttpRequest) -> int | None:
    try:
        return int(request.POST["base_version"])
    except (KeyError, ValueError):
        return None


@login_required
@refuse_unstorable_text
@require_http_methods(["GET", "HEAD", "POST"])
def scenario_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The editor. POST saves the text as a new version (or shows field errors)."""
    scenario = selectors.scenario_get_for_user(
        user=request.user,
        pk=pk,
        perm=Perm.VIEW if request.method in ("GET", "HEAD") else Perm.EDIT,
    )
    if request.method in ("GET", "HEAD"):
        shown = scenario.latest_version
        opened = None
        if request.GET.get("version"):
            # "Open in the designer" from an old version: its text and layout, to
            # edit and save as the next version.
            try:
                number = int(request.GET["version"])
            except ValueError:
                number = -1
            shown = opened = selectors.scenario_version_get(
                scenario=scenario, number=number
            )
        return render(
            request,
            "scenarios/detail.html",
            _editor_context(
                scenario,
                shown.document_text if shown else "",
                layout=shown.layout if shown else {},
                opened=opened,
            ),
        )
    posted = _posted_version(request, default_message="Saved")
    try:
        version = services.scenario_version_create(
            scenario=scenario,
            text=posted.text,
            author=request.user,
            message=posted.message,
            layout=posted.layout,
            base_version=posted.base_version,
        )
    except (simengine.DocumentError, services.VersionConflict) as exc:
        return _refused(request, scenario, posted, exc)
    ctx = _editor_context(scenario, posted.text, saved=version, layout=version.layout)
    if request.htmx:
        return render(request, "scenarios/detail.html#editor", ctx)
    return redirect("scenario_detail", pk=scenario.pk)


@login_required
@refuse_unstorable_text
@require_POST
def scenario_validate(request: HttpRequest, pk: int) -> HttpResponse:
    """htmx: validate the editor's text as the user types; nothing is saved."""
    scenario = selectors.scenario_get_for_user(user=request.user, pk=pk, perm=Perm.EDIT)
    text = _posted_document(request)
    try:
        services.document_validate(text=text)
        errors = []
    except simengine.DocumentError as exc:
        errors = exc.errors
    return render(
        request,
        "scenarios/detail.html#validation",
        {"scenario": scenario, "errors": errors, "validated": True},
    )


def _refused(
    request: HttpRequest, scenario: Scenario, posted: _PostedVersion, exc: Exception
) -> HttpResponse:
    """The editor again, with the user's text and layout kept and the reason shown:
    nothing was saved and nothing is lost."""
    latest = scenario.latest_version
    extra: dict = {"layout": posted.layout or (latest.layout if latest else {})}
    if latest is not None and latest.document_text != posted.text:
        # The canvas draws this when the posted text cannot be read at all.
        extra["fallback_text"] = latest.document_text
    if isinstance(exc, simengine.DocumentError):
        extra["errors"], status = exc.errors, 400
    elif isinstance(exc, services.VersionConflict):
        # Now based on the newer version, so saving again is a deliberate choice.
        extra["conflict"], status = exc.latest, 409
        extra.update(conflict_context(request, scenario, posted, exc.latest))
    elif isinstance(exc, ValueError):  # a fork's destination (version_views.BadSpace)
        extra["run_error"], status = str(exc), 400
    else:
        extra["run_error"], status = str(exc), 429
    # The message and the pace the user chose are kept too (not the defaults).
    extra["typed_message"] = request.POST.get("message", "").strip()
    extra["typed_pace"] = request.POST.get("pace", "").strip()
    return render(
        request,
        "scenarios/detail.html",
        _editor_context(scenario, posted.text, **extra),
        status=status,
    )


def conflict_context(
    request: HttpRequest,
    scenario: Scenario,
    posted: _PostedVersion,
    latest: ScenarioVersion,
) -> dict:
    """What a save conflict shows: the diff from the newer version to the user's
    text (a text diff when theirs does not parse), the version they were on, and
    where "Save as a fork" may put it."""
    from dashboard.scenarios.version_views import fork_spaces

    ctx: dict = {
        "conflict_base": posted.base_version,
        "conflict_run": request.resolver_match.url_name == "scenario_run",
        "spaces": fork_spaces(user=request.user, scenario=scenario),
    }
    try:
        services.document_validate(text=posted.text)
    except simengine.DocumentError:
        ctx["conflict_text_diff"] = diff.text_diff(
            old_text=latest.document_text,
            new_text=posted.text,
            old_name=f"v{latest.number}",
            new_name="your text",
        )
    else:
        ctx["conflict_diff"] = diff.document_diff(
            old_text=latest.document_text, new_text=posted.text
        )
    return ctx


@login_required
@refuse_unstorable_text
@require_POST
def scenario_run(request: HttpRequest, pk: int) -> HttpResponse:
    """Run the editor's text: stored first, as "Save version" stores it, when it or
    the layout changed (one transaction: a refused run saves nothing)."""
    scenario = selectors.scenario_get_for_user(user=request.user, pk=pk, perm=Perm.EDIT)
    version = None
    if request.POST.get("version"):
        # "Run this version" from a version's page: run it as it was stored.
        try:
            number = int(request.POST["version"])
        except ValueError:
            number = -1
        version = selectors.scenario_version_get(scenario=scenario, number=number)
        posted = _PostedVersion(
            text=version.document_text,
            layout=version.layout,
            message="",
            base_version=None,
        )
    else:
        posted = _posted_version(request, default_message="Saved to run")
    try:
        pace = pace_parse(request.POST.get("pace"))
        if version is not None:
            run = run_start_version(owner=request.user, version=version, pace=pace)
        else:
            run = run_start(
                owner=request.user,
                scenario=scenario,
                text=posted.text,
                layout=posted.layout,
                message=posted.message,
                base_version=posted.base_version,
                pace=pace,
            )
    except (simengine.DocumentError, services.VersionConflict, RunLimitExceeded) as exc:
        return _refused(request, scenario, posted, exc)
    return _redirect(request, reverse("run_detail", kwargs={"run_id": run.pk}))
