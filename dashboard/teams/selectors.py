"""Reads of teams. `team_get_for_user` is the one way to a team by id."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from dashboard.access import ROLE_PERMS, Perm, signed_in, team_perms
from dashboard.teams.models import Membership, Team


def teams_for_user(*, user: AbstractBaseUser) -> QuerySet[Team]:
    if not signed_in(user):
        return Team.objects.none()
    return Team.objects.filter(memberships__user=user)


def team_get_for_user(
    *, user: AbstractBaseUser, pk: int, perm: Perm = Perm.VIEW
) -> Team:
    """The team if `user` may `perm` it: 404 for a non-member, 403 for a member who
    may not (only owners manage). The team carries `perms` and `role`."""
    try:
        team = Team.objects.get(pk=pk)
    except (Team.DoesNotExist, ValueError, TypeError):
        raise Http404("No such team.") from None
    perms = team_perms(user, team)
    if Perm.VIEW not in perms:
        raise Http404("No such team.")
    if perm not in perms:
        raise PermissionDenied("Only the team's owners may do that.")
    team.perms = perms
    return team


def team_members(*, team: Team) -> QuerySet[Membership]:
    return team.memberships.select_related("user").order_by("user__username")


def teams_where_user_may(*, user: AbstractBaseUser, perm: Perm) -> QuerySet[Team]:
    """The teams in whose scenarios `user` may `perm` (e.g. EDIT: where they may
    create or move a scenario)."""
    if not signed_in(user):
        return Team.objects.none()
    roles = [role for role, perms in ROLE_PERMS.items() if perm in perms]
    # One filter() call: both conditions on the same membership row.
    return Team.objects.filter(memberships__user=user, memberships__role__in=roles)
