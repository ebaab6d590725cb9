"""Writes of teams: create, add and remove members, change roles, leave.

Callers pass what `team_get_for_user` returned for the permission the action needs
(owners manage members); these functions keep the rules that hold whoever calls them:
a team always has at least one owner, and a username that is not a user is an error
naming it.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from dashboard.teams.models import Membership, Role, Team

TEAM_NAME_MAX = 100


class TeamError(ValueError):
    """A team action that cannot be done; the message says why, for the page."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise TeamError("Give the team a name.", field="name")
    if len(name) > TEAM_NAME_MAX:
        raise TeamError(
            f"A team name has at most {TEAM_NAME_MAX} characters.", field="name"
        )
    return name


@transaction.atomic
def team_create(*, creator: AbstractBaseUser, name: str) -> Team:
    team = Team.objects.create(name=_clean_name(name), created_by=creator)
    Membership.objects.create(
        team=team, user=creator, role=Role.OWNER, added_by=creator
    )
    return team


def team_rename(*, team: Team, name: str) -> Team:
    team.name = _clean_name(name)
    team.save(update_fields=["name"])
    return team


def _role(role: str) -> str:
    if role not in Role.values:
        raise TeamError(
            f"role must be one of {', '.join(Role.values)} (got {role!r})",
            field="role",
        )
    return role


@transaction.atomic
def member_add(
    *, team: Team, username: str, role: str, added_by: AbstractBaseUser
) -> Membership:
    """Add the user called `username` with `role`; an existing member keeps their
    membership and gets the role."""
    role = _role(role)
    username = (username or "").strip()
    try:
        user = get_user_model().objects.get(username=username)
    except get_user_model().DoesNotExist:
        raise TeamError(f"No user is called {username!r}.", field="username") from None
    membership, created = Membership.objects.select_for_update().get_or_create(
        team=team, user=user, defaults={"role": role, "added_by": added_by}
    )
    if not created and membership.role != role:
        return member_set_role(team=team, user=user, role=role)
    return membership


def _lock_owners(team: Team) -> list[int]:
    """The owners' user ids, with the team's memberships locked: two owners who each
    remove the other at once must not leave the team with none."""
    rows = Membership.objects.select_for_update().filter(team=team)
    return [m.user_id for m in rows if m.role == Role.OWNER]


@transaction.atomic
def member_set_role(*, team: Team, user: AbstractBaseUser, role: str) -> Membership:
    role = _role(role)
    owners = _lock_owners(team)
    try:
        membership = Membership.objects.get(team=team, user=user)
    except Membership.DoesNotExist:
        raise TeamError(
            f"{user} is not a member of {team}.", field="username"
        ) from None
    if membership.role == Role.OWNER and role != Role.OWNER and owners == [user.pk]:
        raise TeamError(
            f"{user} is the team's only owner: make someone else an owner first.",
            field="role",
        )
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def member_remove(*, team: Team, user: AbstractBaseUser) -> None:
    """Remove `user` from the team (also how a member leaves). The last owner
    cannot go: the team would have nobody to manage it."""
    owners = _lock_owners(team)
    if owners == [user.pk]:
        raise TeamError(
            f"{user} is the team's only owner: make someone else an owner first.",
            field="username",
        )
    Membership.objects.filter(team=team, user=user).delete()
