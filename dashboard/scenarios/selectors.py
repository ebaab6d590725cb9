"""Reads of scenarios: the one place that decides who may see what."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Case, QuerySet, When
from django.http import Http404

from dashboard.scenarios.models import Scenario, ScenarioVersion


def scenarios_for_user(*, user: AbstractBaseUser) -> QuerySet[Scenario]:
    return Scenario.objects.filter(owner=user, is_example=False)


# The example a newcomer should open first leads the list; the rest by name.
STARTER_EXAMPLE = "web-tier"


def examples_list() -> QuerySet[Scenario]:
    starter_first = Case(When(slug=STARTER_EXAMPLE, then=0), default=1)
    return Scenario.objects.filter(is_example=True).order_by(starter_first, "slug")


def _get_scenario_for_user(*, user: AbstractBaseUser, pk: int) -> Scenario:
    """The user's own scenario, or 404 (never 403: existence is not revealed)."""
    try:
        return scenarios_for_user(user=user).get(pk=pk)
    except Scenario.DoesNotExist:
        raise Http404("No such scenario.") from None


def _get_example(*, slug: str) -> Scenario:
    try:
        return examples_list().get(slug=slug)
    except Scenario.DoesNotExist:
        raise Http404("No such example.") from None


def scenario_version_get(*, scenario: Scenario, number: int) -> ScenarioVersion:
    try:
        return scenario.versions.get(number=number)
    except ScenarioVersion.DoesNotExist:
        raise Http404("No such version.") from None
