"""Who may do what: the one table of permissions, read by every selector.

Every view, consumer and service reaches a scenario, a run or a team through its
app's selector (`scenario_get_for_user`, `run_get_for_user`, `team_get_for_user`),
which asks this module for the user's permissions on the object and raises 404 when
the user may not see it at all (existence is never revealed) or 403 when they may
see it but not do what they asked.

- A personal scenario: its owner has every permission; nobody else has any.
- A team scenario: the member's role decides (viewers view, editors also edit and
  run, owners also manage); a non-member has none.
- A built-in example: any signed-in user views it (and may copy it); nobody edits it.
- A run: what its scenario allows (a run whose scenario was deleted: its starter).
- A team: members view it; owners manage it (members, roles, its name).
"""

from __future__ import annotations

import enum

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q

from dashboard.teams.models import Membership, Role


class Perm(enum.StrEnum):
    VIEW = "view"  # read: the designer, versions, diffs, runs, the review
    EDIT = "edit"  # save versions, run, cancel runs, comment and review, rename
    MANAGE = "manage"  # delete, move to a team, share links, members


NONE: frozenset[Perm] = frozenset()
ALL: frozenset[Perm] = frozenset(Perm)
ROLE_PERMS: dict[str, frozenset[Perm]] = {
    Role.OWNER: ALL,
    Role.EDITOR: frozenset({Perm.VIEW, Perm.EDIT}),
    Role.VIEWER: frozenset({Perm.VIEW}),
}


def signed_in(user) -> bool:
    return bool(getattr(user, "is_authenticated", False))


def team_role(user: AbstractBaseUser, team_id: int | None) -> str | None:
    if team_id is None or not signed_in(user):
        return None
    return (
        Membership.objects.filter(team_id=team_id, user=user)
        .values_list("role", flat=True)
        .first()
    )


def scenario_perms(user: AbstractBaseUser, scenario) -> frozenset[Perm]:
    if not signed_in(user):
        return NONE
    if scenario.is_example:
        return frozenset({Perm.VIEW})
    if scenario.team_id is not None:
        return ROLE_PERMS.get(team_role(user, scenario.team_id), NONE)
    return ALL if scenario.owner_id == user.pk else NONE


def scenarios_visible_q(user: AbstractBaseUser) -> Q:
    """The scenarios (not examples) `user` may view, as a filter on Scenario."""
    return Q(is_example=False) & (Q(owner=user) | Q(team__memberships__user=user))


def team_perms(user: AbstractBaseUser, team) -> frozenset[Perm]:
    role = team_role(user, team.pk)
    if role is None:
        return NONE
    return ALL if role == Role.OWNER else frozenset({Perm.VIEW})


def run_perms(user: AbstractBaseUser, run) -> frozenset[Perm]:
    if not signed_in(user):
        return NONE
    if run.scenario_id is not None:
        return scenario_perms(user, run.scenario)
    return ALL if run.owner_id == user.pk else NONE


def runs_visible_q(user: AbstractBaseUser) -> Q:
    """The runs `user` may view, as a filter on Run."""
    return (
        Q(scenario__is_example=False, scenario__owner=user)
        | Q(scenario__team__memberships__user=user)
        | Q(scenario__isnull=True, owner=user)
        | Q(scenario__is_example=True, owner=user)
    )
