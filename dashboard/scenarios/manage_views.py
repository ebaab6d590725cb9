"""Scenario management pages: new (with a name and a place), rename, move to a team,
delete (after a confirmation). Each form has a page of its own, so a refused input
is shown again with the reason beside the field (400) and nothing is saved."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from dashboard.access import Perm
from dashboard.inputs import refuse_unstorable_text
from dashboard.scenarios import lifecycle, selectors
from dashboard.scenarios.lifecycle import ScenarioError
from dashboard.scenarios.models import Scenario
from dashboard.teams.models import Team
from dashboard.teams.selectors import teams_where_user_may

PERSONAL = "me"
GET_OR_POST = ["GET", "HEAD", "POST"]


def _team_choice(request: HttpRequest, value: str, *, field: str) -> Team | None:
    """The team `value` ("team-<id>") names, if the user may edit in it; None for
    PERSONAL. Any other value (a team that does not exist, or where the user only
    views) is one and the same refusal: nothing about other teams is revealed."""
    if value == PERSONAL:
        return None
    try:
        team_id = int(value.removeprefix("team-")) if value.startswith("team-") else 0
    except ValueError:
        team_id = 0
    team = teams_where_user_may(user=request.user, perm=Perm.EDIT).filter(pk=team_id)
    team = team.first()
    if team is None:
        raise ScenarioError(
            "Choose yourself or a team where you are an editor or an owner.",
            field=field,
        )
    return team


def _team_choices(request: HttpRequest) -> list[tuple[str, str]]:
    """(value, team name) of the teams where the user may create or move to."""
    teams = teams_where_user_may(user=request.user, perm=Perm.EDIT).order_by("name")
    return [(f"team-{t.pk}", t.name) for t in teams]


def _error_context(exc: ScenarioError) -> dict:
    return {"error": str(exc), "error_field": exc.field or "name"}


@login_required
@refuse_unstorable_text
@require_http_methods(GET_OR_POST)
def scenario_new(request: HttpRequest) -> HttpResponse:
    """GET: the form (a name, and where the scenario lives); POST: create it."""
    ctx: dict = {
        "team_choices": _team_choices(request),
        "name": "",
        "where": request.GET.get("where", PERSONAL),
    }
    if request.method == "POST":
        ctx["name"] = request.POST.get("name", "")
        ctx["where"] = request.POST.get("where", PERSONAL)
        try:
            team = _team_choice(request, ctx["where"], field="where")
            scenario = lifecycle.scenario_create_named(
                creator=request.user, name=ctx["name"], team=team
            )
        except ScenarioError as exc:
            return render(
                request, "scenarios/new.html", ctx | _error_context(exc), status=400
            )
        return redirect("scenario_detail", pk=scenario.pk)
    return render(request, "scenarios/new.html", ctx)


def _manage_page(
    request: HttpRequest, scenario: Scenario, action: str, status: int = 200, **extra
) -> HttpResponse:
    return render(
        request,
        "scenarios/manage.html",
        {"scenario": scenario, "action": action, **extra},
        status=status,
    )


@login_required
@refuse_unstorable_text
@require_http_methods(GET_OR_POST)
def scenario_rename(request: HttpRequest, pk: int) -> HttpResponse:
    """Rename (EDIT): stored as a new version whose document carries the name."""
    scenario = selectors.scenario_get_for_user(user=request.user, pk=pk, perm=Perm.EDIT)
    if request.method != "POST":
        return _manage_page(request, scenario, "rename", name=scenario.name)
    name = request.POST.get("name", "")
    try:
        version = lifecycle.scenario_rename(
            scenario=scenario, name=name, author=request.user
        )
    except ScenarioError as exc:
        return _manage_page(
            request, scenario, "rename", 400, name=name, **_error_context(exc)
        )
    if version is not None:
        messages.success(
            request, f"Renamed to “{scenario.name}” (version {version.number})."
        )
    return redirect("scenario_detail", pk=scenario.pk)


@login_required
@refuse_unstorable_text
@require_http_methods(GET_OR_POST)
def scenario_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: what deleting takes away, and a button to confirm; POST (with
    confirm=yes): delete (MANAGE: the owner, or a team scenario's team owners)."""
    scenario = selectors.scenario_get_for_user(
        user=request.user, pk=pk, perm=Perm.MANAGE
    )
    ctx = {
        "version_count": scenario.versions.count(),
        "run_count": scenario.runs.count(),
    }
    if request.method != "POST":
        return _manage_page(request, scenario, "delete", **ctx)
    if request.POST.get("confirm") != "yes":
        return _manage_page(
            request,
            scenario,
            "delete",
            400,
            error="Confirm the deletion with the “Delete” button.",
            error_field="confirm",
            **ctx,
        )
    name = scenario.name
    lifecycle.scenario_delete(scenario=scenario)
    messages.success(request, f"Deleted “{name}”. Its runs stay in your run list.")
    return redirect("scenario_list")


@login_required
@refuse_unstorable_text
@require_http_methods(GET_OR_POST)
def scenario_move(request: HttpRequest, pk: int) -> HttpResponse:
    """Move a personal scenario to a team in one step (MANAGE on the scenario, EDIT
    in the team)."""
    scenario = selectors.scenario_get_for_user(
        user=request.user, pk=pk, perm=Perm.MANAGE
    )
    ctx = {
        "team_choices": _team_choices(request),
        "chosen": request.POST.get("team", ""),
    }
    if request.method != "POST":
        return _manage_page(request, scenario, "move", **ctx)
    try:
        team = _team_choice(request, ctx["chosen"] or "none", field="team")
        if team is None:
            raise ScenarioError("Choose the team to move it to.", field="team")
        lifecycle.scenario_move_to_team(scenario=scenario, team=team)
    except ScenarioError as exc:
        return _manage_page(
            request, scenario, "move", 400, **ctx, **_error_context(exc)
        )
    messages.success(request, f"“{scenario.name}” now belongs to the team {team.name}.")
    return redirect("scenario_detail", pk=scenario.pk)
