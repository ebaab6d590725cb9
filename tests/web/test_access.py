"""Every route is walked: anonymous users are sent to log in, non-owners get 404.

Reliability rows 2 and 3. A new route without a sample value in `world`
(tests/web/conftest.py) fails the walk, so nobody can add a page without deciding who
may see it.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from dashboard.runs.models import Run, RunSnapshot
from dashboard.scenarios.models import Scenario, ScenarioVersion
from dashboard.teams.models import Membership, Team
from tests.web.factories import SMALL_DOC

PUBLIC = {"login", "signup", "healthz", "logout"}
# Reached by a share link's token, without a login, by anyone who holds it:
# tests/web/test_sharing.py walks every route under it.
SHARED_PREFIX = "/s/"
METHODS = ("get", "post", "put", "patch", "delete")


def _row_counts():
    return (
        User.objects.count(),
        Scenario.objects.count(),
        ScenarioVersion.objects.count(),
        Run.objects.count(),
        RunSnapshot.objects.count(),
        tuple(Team.objects.values_list("pk", "name").order_by("pk")),
        tuple(Membership.objects.values_list("pk", "role").order_by("pk")),
        tuple(
            Scenario.objects.values_list("pk", "name", "owner", "team").order_by("pk")
        ),
        tuple(Run.objects.values_list("status", flat=True).order_by("pk")),
    )


@pytest.mark.django_db
def test_every_private_route_redirects_anonymous_users_to_login(route_urls):
    client = Client()
    login = reverse("login")
    checked = 0
    for name, url in route_urls:
        if name in PUBLIC or url.startswith(SHARED_PREFIX):
            continue
        for method in METHODS:
            response = getattr(client, method)(url)
            assert response.status_code in (302, 401, 403), (
                name,
                method,
                response.status_code,
            )
            if response.status_code == 302:
                assert response["Location"].startswith(login), (name, method)
            checked += 1
    assert checked >= 8 * len(METHODS) // 2


@pytest.mark.django_db
def test_public_routes_answer_anonymous_users(world):
    client = Client()
    assert client.get(reverse("login")).status_code == 200
    assert client.get(reverse("signup")).status_code == 200
    assert client.get(reverse("healthz")).content == b"ok"


@pytest.mark.django_db
def test_non_owner_gets_404_on_every_method_and_nothing_changes(
    route_urls, mallory_client
):
    client = mallory_client
    before = _row_counts()
    for name, url in route_urls:
        if (
            name in PUBLIC
            or url.startswith(SHARED_PREFIX)
            or name
            in {
                "scenario_list",
                "scenario_new",
                "run_list",
                "example_copy",
                "inbox",  # one's own notifications
                "inbox_read_all",
                "team_list",
                "team_new",
                "api_tokens",  # one's own API tokens
            }
        ):
            continue  # not about another user's object
        codes = set()
        for method in METHODS:
            response = getattr(client, method)(url, data={"document": SMALL_DOC})
            # 405 for a method the route never accepts; its own methods must 404.
            assert response.status_code in (404, 405), (
                name,
                method,
                response.status_code,
            )
            codes.add(response.status_code)
        assert 404 in codes, name
    assert _row_counts() == before


@pytest.mark.django_db
def test_signup_can_be_turned_off(settings):
    settings.SIGNUP_ENABLED = False
    client = Client()
    assert client.get(reverse("signup")).status_code == 404
    assert client.post(reverse("signup"), {"username": "eve"}).status_code == 404
    assert b"Create an account" not in client.get(reverse("login")).content
