"""Reads of scenarios. `scenario_get_for_user` is the one way to a scenario by id:
it asks `dashboard.access` what the user may do and refuses what they may not."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db.models import Case, OuterRef, QuerySet, Subquery, When
from django.http import Http404

from dashboard.access import Perm, scenario_perms, scenarios_visible_q
from dashboard.scenarios.models import Scenario, ScenarioVersion


def scenarios_for_user(*, user: AbstractBaseUser) -> QuerySet[Scenario]:
    """Every scenario `user` may view: their own and their teams' (not examples)."""
    return Scenario.objects.filter(scenarios_visible_q(user))


# The example a newcomer should open first leads the list; the rest by name.
STARTER_EXAMPLE = "web-tier"


def examples_list() -> QuerySet[Scenario]:
    starter_first = Case(When(slug=STARTER_EXAMPLE, then=0), default=1)
    return Scenario.objects.filter(is_example=True).order_by(starter_first, "slug")


def scenario_get_for_user(
    *, user: AbstractBaseUser, pk: int, perm: Perm = Perm.VIEW
) -> Scenario:
    """The scenario if `user` may `perm` it. 404 when they may not even view it
    (existence is not revealed), 403 when they may view it but not `perm` it.
    The scenario carries `perms`, what the user may do, for the page to show."""
    try:
        scenario = Scenario.objects.select_related("team", "owner").get(pk=pk)
    except (Scenario.DoesNotExist, ValueError, TypeError):
        raise Http404("No such scenario.") from None
    perms = scenario_perms(user, scenario)
    if Perm.VIEW not in perms:
        raise Http404("No such scenario.")
    if perm not in perms:
        raise PermissionDenied(f"You may not {perm} this scenario.")
    scenario.perms = perms
    return scenario


def _get_example(*, slug: str) -> Scenario:
    try:
        return examples_list().get(slug=slug)
    except Scenario.DoesNotExist:
        raise Http404("No such example.") from None


def scenario_version_get(*, scenario: Scenario, number: int) -> ScenarioVersion:
    try:
        return scenario.versions.select_related("author").get(number=number)
    except ScenarioVersion.DoesNotExist:
        raise Http404("No such version.") from None


# --- The scenario list: filter by owner, search by name ---------------------------

#: The owner filter's fixed choices; a team is "team-<id>".
OWNER_ALL, OWNER_MINE, OWNER_EXAMPLES = "all", "mine", "examples"


class BadFilter(ValueError):
    """An owner filter that is not one of the user's choices (names the field)."""

    field = "owner"


def _with_latest(qs: QuerySet[Scenario]) -> QuerySet[Scenario]:
    """Each row with its latest version's number, author and time (one query)."""
    latest = ScenarioVersion.objects.filter(scenario=OuterRef("pk")).order_by("-number")
    return qs.select_related("team").annotate(
        latest_number=Subquery(latest.values("number")[:1]),
        latest_author=Subquery(latest.values("author__username")[:1]),
        latest_at=Subquery(latest.values("created_at")[:1]),
    )


def scenario_list_for_user(
    *, user: AbstractBaseUser, owner: str = OWNER_ALL, query: str = ""
) -> tuple[QuerySet[Scenario], QuerySet[Scenario]]:
    """(scenarios, examples) for the list page. `owner` is "all", "mine" (personal),
    "examples" or "team-<id>" of one of the user's teams (else `BadFilter`, the same
    for a team that does not exist and one the user is not in); `query` searches
    names. Rows carry `latest_number`, `latest_author` and `latest_at`."""
    from dashboard.teams.selectors import teams_for_user

    mine = scenarios_for_user(user=user)
    examples = examples_list()
    if owner == OWNER_MINE:
        mine, examples = mine.filter(owner=user, team=None), examples.none()
    elif owner == OWNER_EXAMPLES:
        mine = mine.none()
    elif owner.startswith("team-"):
        try:
            team_id = int(owner.removeprefix("team-"))
        except ValueError:
            team_id = None
        if team_id is None or not teams_for_user(user=user).filter(pk=team_id).exists():
            raise BadFilter(f"owner: {owner!r} is not one of your teams")
        mine, examples = mine.filter(team_id=team_id), examples.none()
    elif owner != OWNER_ALL:
        raise BadFilter(
            f"owner must be all, mine, examples or one of your teams (got {owner!r})"
        )
    if query:
        mine = mine.filter(name__icontains=query)
        examples = examples.filter(name__icontains=query)
    return _with_latest(mine.distinct()), examples
