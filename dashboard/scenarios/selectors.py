"""Reads of scenarios. `scenario_get_for_user` is the one way to a scenario by id:
it asks `dashboard.access` what the user may do and refuses what they may not."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db.models import Case, QuerySet, When
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
