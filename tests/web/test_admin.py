"""The Django admin, for operators: staff only, behind django-axes, under the CSP.

The URL walker (tests/web/conftest.py) leaves the "admin" namespace out; this file
checks the admin's own door instead.
"""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from dashboard.teams.models import Team
from tests.web.conftest import UNWALKED_NAMESPACES, _named_patterns
from tests.web.factories import make_run

pytestmark = pytest.mark.django_db
ADMIN_LOGIN = reverse("admin:login")


@pytest.fixture
def staff_client(db) -> Client:
    operator = User.objects.create_user(
        "operator", password="operator-pass-123", is_staff=True, is_superuser=True
    )
    client = Client()
    client.force_login(operator)
    return client


def test_a_non_staff_user_is_sent_to_the_admin_login_not_a_page(alice_client):
    for url in (
        reverse("admin:index"),
        reverse("admin:teams_team_changelist"),
        reverse("admin:scenarios_scenario_changelist"),
        reverse("admin:runs_run_changelist"),
    ):
        response = alice_client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(ADMIN_LOGIN), url


def test_a_non_staff_user_cannot_log_in_to_the_admin(alice):
    client = Client()
    response = client.post(
        ADMIN_LOGIN,
        {"username": "alice", "password": "alice-pass-123", "next": "/admin/"},
    )
    assert response.status_code == 200  # the form again, with its error
    assert b"staff account" in response.content
    assert client.get(reverse("admin:index")).status_code == 302


def test_admin_logins_are_throttled_by_axes(db):
    User.objects.create_user("operator", password="operator-pass-123", is_staff=True)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        Client().post(
            ADMIN_LOGIN,
            {"username": "operator", "password": "wrong"},
            REMOTE_ADDR="10.9.0.1",
        )
    client = Client()
    response = client.post(
        ADMIN_LOGIN,
        {"username": "operator", "password": "operator-pass-123"},
        REMOTE_ADDR="10.9.0.2",
    )
    assert response.status_code == 429
    assert client.get(reverse("admin:index")).status_code == 302


def test_staff_see_every_registered_model_under_the_csp(staff_client, team, alice):
    from dashboard.scenarios.services import scenario_create
    from tests.web.factories import SMALL_DOC

    scenario = scenario_create(owner=alice, text=SMALL_DOC, team=team)
    run = make_run(alice, scenario)
    version = scenario.latest_version
    urls = [
        reverse("admin:index"),
        reverse("admin:teams_team_changelist"),
        reverse("admin:teams_team_change", args=[team.pk]),
        reverse("admin:scenarios_scenario_changelist") + "?q=Small",
        reverse("admin:scenarios_scenario_change", args=[scenario.pk]),
        reverse("admin:scenarios_scenarioversion_changelist"),
        reverse("admin:scenarios_scenarioversion_change", args=[version.pk]),
        reverse("admin:runs_run_changelist") + "?status=queued",
        reverse("admin:runs_run_change", args=[run.pk]),
    ]
    for url in urls:
        response = staff_client.get(url)
        assert response.status_code == 200, url
        policy = response["Content-Security-Policy"]
        assert (
            "script-src 'self'" in policy
            and "unsafe-inline" not in policy.split("style-src-attr")[0]
        ), url
        inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", response.content.decode())
        assert not inline, (url, inline)  # every admin script is a file
    page = staff_client.get(reverse("admin:teams_team_change", args=[team.pk]))
    assert b"carol" in page.content  # the membership inline


def test_versions_and_runs_cannot_be_changed_in_the_admin(staff_client, team, alice):
    from dashboard.scenarios.services import scenario_create
    from tests.web.factories import SMALL_DOC

    scenario = scenario_create(owner=alice, text=SMALL_DOC, team=team)
    version = scenario.latest_version
    response = staff_client.post(
        reverse("admin:scenarios_scenarioversion_change", args=[version.pk]),
        {"document_text": "changed", "message": "changed"},
    )
    assert response.status_code == 403
    version.refresh_from_db()
    assert version.document_text == SMALL_DOC
    assert staff_client.get(reverse("admin:runs_run_add")).status_code == 403


def test_the_walker_leaves_out_exactly_the_admin_namespace():
    assert {"admin", "api"} == UNWALKED_NAMESPACES  # the API: tests/web/test_api.py
    names = {p.name for p in _named_patterns()}
    assert "team_detail" in names and "scenario_delete" in names
    assert not names & {"index", "app_list", "autocomplete", "jsi18n"}
    assert Team.objects.count() == 0
