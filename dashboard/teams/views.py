"""Team pages: my teams, create one, a team's members and scenarios, invite by
username, change a role, remove a member, leave, rename.

Every page reaches the team through `team_get_for_user` (404 for a non-member, 403
for a member without the permission: only owners manage) and writes through
`dashboard.teams.services`; a refused action shows the team page again with the
reason beside the field it names (400), and nothing changes.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from dashboard.access import Perm
from dashboard.inputs import refuse_unstorable_text
from dashboard.scenarios.selectors import scenario_list_for_user
from dashboard.teams import selectors, services
from dashboard.teams.models import Role, Team
from dashboard.teams.services import TeamError


def _team_context(request: HttpRequest, team: Team, **extra) -> dict:
    members = selectors.team_members(team=team)
    scenarios, _ = scenario_list_for_user(user=request.user, owner=f"team-{team.pk}")
    my_role = next((m.role for m in members if m.user_id == request.user.pk), None)
    return {
        "team": team,
        "members": members,
        "scenarios": scenarios,
        "my_role": my_role,
        "roles": Role.choices,
        "invite_role": Role.EDITOR,
        **extra,
    }


def _refused(request: HttpRequest, team: Team, exc: TeamError, **extra) -> HttpResponse:
    return render(
        request,
        "teams/detail.html",
        _team_context(
            request, team, error=str(exc), error_field=exc.field or "name", **extra
        ),
        status=400,
    )


def _member_user(team: Team, user_id: int):
    """The member `user_id` of `team` (404 when they are not one)."""
    user = (
        get_user_model()
        .objects.filter(pk=user_id, memberships__team=team)
        .only("pk", "username")
        .first()
    )
    if user is None:
        raise Http404("No such member.")
    return user


@login_required
@refuse_unstorable_text
@require_safe
def team_list(request: HttpRequest) -> HttpResponse:
    return render(request, "teams/list.html", _list_context(request))


def _list_context(request: HttpRequest, **extra) -> dict:
    memberships = (
        request.user.memberships.select_related("team")
        .order_by("team__name", "team__pk")
        .all()
    )
    return {"memberships": memberships, "name": "", **extra}


@login_required
@refuse_unstorable_text
@require_POST
def team_new(request: HttpRequest) -> HttpResponse:
    name = request.POST.get("name", "")
    try:
        team = services.team_create(creator=request.user, name=name)
    except TeamError as exc:
        ctx = _list_context(request, name=name, error=str(exc), error_field=exc.field)
        return render(request, "teams/list.html", ctx, status=400)
    messages.success(request, f"Created the team {team.name}; you are its owner.")
    return redirect("team_detail", team_id=team.pk)


@login_required
@refuse_unstorable_text
@require_safe
def team_detail(request: HttpRequest, team_id: int) -> HttpResponse:
    team = selectors.team_get_for_user(user=request.user, pk=team_id)
    return render(request, "teams/detail.html", _team_context(request, team))


@login_required
@refuse_unstorable_text
@require_POST
def team_rename(request: HttpRequest, team_id: int) -> HttpResponse:
    team = selectors.team_get_for_user(user=request.user, pk=team_id, perm=Perm.MANAGE)
    old_name = team.name
    try:
        services.team_rename(team=team, name=request.POST.get("name", ""))
    except TeamError as exc:
        team.name = old_name
        return _refused(request, team, exc, rename_value=request.POST.get("name", ""))
    messages.success(request, f"Renamed the team to {team.name}.")
    return redirect("team_detail", team_id=team.pk)


@login_required
@refuse_unstorable_text
@require_POST
def team_member_add(request: HttpRequest, team_id: int) -> HttpResponse:
    """Invite by username with a role (owners only); an existing member gets the
    role instead."""
    team = selectors.team_get_for_user(user=request.user, pk=team_id, perm=Perm.MANAGE)
    username = request.POST.get("username", "").strip()
    role = request.POST.get("role", "")
    try:
        membership = services.member_add(
            team=team, username=username, role=role, added_by=request.user
        )
    except TeamError as exc:
        return _refused(request, team, exc, invite_username=username, invite_role=role)
    messages.success(
        request,
        f"{membership.user.username} is now a {membership.role} of {team.name}.",
    )
    return redirect("team_detail", team_id=team.pk)


@login_required
@refuse_unstorable_text
@require_POST
def team_member_role(request: HttpRequest, team_id: int, user_id: int) -> HttpResponse:
    team = selectors.team_get_for_user(user=request.user, pk=team_id, perm=Perm.MANAGE)
    member = _member_user(team, user_id)
    try:
        membership = services.member_set_role(
            team=team, user=member, role=request.POST.get("role", "")
        )
    except TeamError as exc:
        return _refused(request, team, exc)
    messages.success(request, f"{member.username} is now a {membership.role}.")
    return redirect("team_detail", team_id=team.pk)


@login_required
@refuse_unstorable_text
@require_POST
def team_member_remove(
    request: HttpRequest, team_id: int, user_id: int
) -> HttpResponse:
    team = selectors.team_get_for_user(user=request.user, pk=team_id, perm=Perm.MANAGE)
    member = _member_user(team, user_id)
    try:
        services.member_remove(team=team, user=member)
    except TeamError as exc:
        return _refused(request, team, exc)
    if member.pk == request.user.pk:
        messages.success(request, f"You left {team.name}.")
        return redirect("team_list")
    messages.success(request, f"Removed {member.username} from {team.name}.")
    return redirect("team_detail", team_id=team.pk)


@login_required
@refuse_unstorable_text
@require_POST
def team_leave(request: HttpRequest, team_id: int) -> HttpResponse:
    """Any member may leave; the team's only owner may not (the service refuses)."""
    team = selectors.team_get_for_user(user=request.user, pk=team_id)
    try:
        services.member_remove(team=team, user=request.user)
    except TeamError as exc:
        return _refused(request, team, exc)
    messages.success(request, f"You left {team.name}.")
    return redirect("team_list")
