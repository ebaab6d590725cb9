"""A scenario's history: a version's page, the diff of two versions, restore, fork.

See docs/versions.md. Reads need VIEW on the scenario; restore needs EDIT; a fork
needs VIEW on the source and EDIT where it goes (the user's own space, or a team in
which they edit).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

import simengine
from dashboard.access import Perm
from dashboard.inputs import refuse_unstorable_text
from dashboard.scenarios import diff, selectors, versions
from dashboard.scenarios.models import Scenario, ScenarioVersion
from dashboard.scenarios.views import _posted_version, _refused
from dashboard.teams.models import Team
from dashboard.teams.selectors import teams_where_user_may

PERSONAL = "personal"


class BadSpace(ValueError):
    """The posted "space" of a fork is not one the user may create scenarios in."""


def fork_spaces(*, user, scenario: Scenario) -> list[dict]:
    """Where `user` may fork `scenario` to: their own space and the teams they edit
    in, the scenario's own team first when it is one of them."""
    teams = list(teams_where_user_may(user=user, perm=Perm.EDIT).order_by("name"))
    teams.sort(key=lambda t: t.pk != scenario.team_id)
    spaces = [{"value": f"team-{t.pk}", "label": f"Team {t.name}"} for t in teams]
    mine = {"value": PERSONAL, "label": "My scenarios"}
    return (
        [*spaces, mine]
        if scenario.team_id in {t.pk for t in teams}
        else [mine, *spaces]
    )


def _posted_team(request: HttpRequest) -> Team | None:
    """The team named by the posted "space" (None: the user's own space)."""
    space = request.POST.get("space", PERSONAL).strip() or PERSONAL
    if space == PERSONAL:
        return None
    try:
        pk = int(space.removeprefix("team-")) if space.startswith("team-") else None
    except ValueError:
        pk = None
    team = (
        teams_where_user_may(user=request.user, perm=Perm.EDIT).filter(pk=pk).first()
        if pk is not None
        else None
    )
    if team is None:
        raise BadSpace("space: choose your own scenarios or a team you edit in")
    return team


def _history(scenario: Scenario):
    return scenario.versions.select_related("author").only(
        "number", "message", "created_at", "scenario_id", "author__username"
    )[:50]


def _version_page(
    request: HttpRequest,
    scenario: Scenario,
    version: ScenarioVersion,
    *,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "scenarios/version.html",
        {
            "scenario": scenario,
            "version": version,
            "latest": scenario.latest_version,
            "versions": _history(scenario),
            "spaces": fork_spaces(user=request.user, scenario=scenario),
            "error": error,
        },
        status=status,
    )


@login_required
@refuse_unstorable_text
@require_safe
def scenario_version(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    scenario = selectors.scenario_get_for_user(user=request.user, pk=pk)
    version = selectors.scenario_version_get(scenario=scenario, number=number)
    return _version_page(request, scenario, version)


def diff_context(
    *, scenario: Scenario, old: ScenarioVersion, new: ScenarioVersion
) -> dict:
    """What the `diff` region of templates/scenarios/diff.html draws (also for the
    pages that include it): the changes, the canvas and the metric rows."""
    changes = diff.version_diff(old=old, new=new)
    run_old, run_new = diff.latest_succeeded_run(old), diff.latest_succeeded_run(new)
    metrics = []
    if run_old is not None and run_new is not None:
        metrics = diff.report_metrics_compare(old=run_old.report, new=run_new.report)
    return {
        "scenario": scenario,
        "old": old,
        "new": new,
        "diff": changes,
        "diff_graph": diff.diff_graph(old=old, new=new, diff=changes),
        "run_old": run_old,
        "run_new": run_new,
        "metrics": metrics,
    }


@login_required
@refuse_unstorable_text
@require_safe
def scenario_diff(request: HttpRequest, pk: int, a: int, b: int) -> HttpResponse:
    """Version `a` against version `b` of one scenario: from `a` to `b`."""
    scenario = selectors.scenario_get_for_user(user=request.user, pk=pk)
    old = selectors.scenario_version_get(scenario=scenario, number=a)
    new = selectors.scenario_version_get(scenario=scenario, number=b)
    ctx = diff_context(scenario=scenario, old=old, new=new)
    ctx["versions"] = _history(scenario)
    if request.htmx:
        return render(request, "scenarios/diff.html#diff", ctx)
    return render(request, "scenarios/diff.html", ctx)


@login_required
@refuse_unstorable_text
@require_safe
def scenario_diff_pick(request: HttpRequest, pk: int) -> HttpResponse:
    """The "compare" form's target: ?a=N&b=M, sent on to the diff's own URL."""
    scenario = selectors.scenario_get_for_user(user=request.user, pk=pk)
    try:
        a, b = int(request.GET.get("a", "")), int(request.GET.get("b", ""))
    except ValueError:
        return HttpResponse(
            "a, b: choose two version numbers to compare",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    selectors.scenario_version_get(scenario=scenario, number=a)
    selectors.scenario_version_get(scenario=scenario, number=b)
    return redirect("scenario_diff", pk=scenario.pk, a=a, b=b)


@login_required
@refuse_unstorable_text
@require_POST
def scenario_version_restore(
    request: HttpRequest, pk: int, number: int
) -> HttpResponse:
    scenario = selectors.scenario_get_for_user(user=request.user, pk=pk, perm=Perm.EDIT)
    version = selectors.scenario_version_get(scenario=scenario, number=number)
    try:
        versions.scenario_version_restore(
            scenario=scenario, version=version, author=request.user
        )
    except simengine.DocumentError as exc:
        error = "Not restored: this version no longer validates: " + "; ".join(
            str(e) for e in exc.errors[:5]
        )
        return _version_page(request, scenario, version, error=error, status=400)
    return redirect("scenario_detail", pk=scenario.pk)


def _fork(
    request: HttpRequest,
    *,
    source: Scenario,
    number: int,
    text: str,
    layout: dict,
    message: str = "",
) -> Scenario:
    """Fork `text` (raises BadSpace or `simengine.DocumentError`, nothing written)."""
    team = _posted_team(request)
    return versions.scenario_fork(
        source=source,
        number=number,
        text=text,
        layout=layout,
        author=request.user,
        team=team,
        message=message,
    )


@login_required
@refuse_unstorable_text
@require_POST
def scenario_version_fork(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """Fork a stored version into a new scenario."""
    scenario = selectors.scenario_get_for_user(user=request.user, pk=pk)
    version = selectors.scenario_version_get(scenario=scenario, number=number)
    try:
        fork = _fork(
            request,
            source=scenario,
            number=version.number,
            text=version.document_text,
            layout=version.layout,
        )
    except (BadSpace, simengine.DocumentError) as exc:
        error = f"Not forked: {exc}"
        return _version_page(request, scenario, version, error=error, status=400)
    return redirect("scenario_detail", pk=fork.pk)


@login_required
@refuse_unstorable_text
@require_POST
def scenario_fork_text(request: HttpRequest, pk: int) -> HttpResponse:
    """ "Save as a fork" from the editor (a save conflict): the user's own text,
    layout and message become version 1 of a new scenario."""
    scenario = selectors.scenario_get_for_user(user=request.user, pk=pk)
    posted = _posted_version(request, default_message="")
    # The version the user's text grew from: the conflict form's "forked_from",
    # else the editor's base, else the latest.
    try:
        number = int(request.POST.get("forked_from", ""))
    except ValueError:
        number = posted.base_version or 0
    if not scenario.versions.filter(number=number).exists():
        number = scenario.latest_version.number
    try:
        fork = _fork(
            request,
            source=scenario,
            number=number,
            text=posted.text,
            layout=posted.layout,
            message=posted.message,
        )
    except (BadSpace, simengine.DocumentError) as exc:
        return _refused(request, scenario, posted, exc)
    return redirect("scenario_detail", pk=fork.pk)
