"""Every route is walked: anonymous users are sent to log in, non-owners get 404.

Reliability rows 2 and 3. A new route without a sample value below fails the walk, so
nobody can add a page without deciding who may see it.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from dashboard.runs.models import Run, RunSnapshot
from dashboard.scenarios.models import Scenario, ScenarioVersion
from dashboard.scenarios.services import example_upsert
from tests.web.factories import SMALL_DOC, make_run, make_scenario

PUBLIC = {"login", "signup", "healthz", "logout"}
METHODS = ("get", "post", "put", "patch", "delete")


def _named_patterns(patterns=None):
    patterns = get_resolver().url_patterns if patterns is None else patterns
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _named_patterns(p.url_patterns)
        elif isinstance(p, URLPattern):
            yield p


@pytest.fixture
def world(alice):
    scenario = make_scenario(alice)
    run = make_run(alice, scenario)
    RunSnapshot.objects.create(run=run, seq=0, data={"seq": 0})
    example, _ = example_upsert(slug="walker-example", text=SMALL_DOC)
    return {
        "pk": scenario.pk,
        "number": 1,
        "run_id": run.pk,
        "slug": example.slug,
    }


def _urls(samples):
    for pattern in _named_patterns():
        assert pattern.name, f"route {pattern.pattern} has no name"
        params = pattern.pattern.converters.keys()
        missing = [p for p in params if p not in samples]
        assert not missing, f"route {pattern.name} needs a sample value for {missing}"
        yield (
            pattern.name,
            reverse(pattern.name, kwargs={p: samples[p] for p in params}),
        )


def _row_counts():
    return (
        User.objects.count(),
        Scenario.objects.count(),
        ScenarioVersion.objects.count(),
        Run.objects.count(),
        RunSnapshot.objects.count(),
        tuple(Run.objects.values_list("status", flat=True).order_by("pk")),
    )


@pytest.mark.django_db
def test_every_private_route_redirects_anonymous_users_to_login(world):
    client = Client()
    login = reverse("login")
    checked = 0
    for name, url in _urls(world):
        if name in PUBLIC:
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
def test_non_owner_gets_404_on_every_method_and_nothing_changes(world, mallory):
    client = Client()
    client.force_login(mallory)
    before = _row_counts()
    for name, url in _urls(world):
        if name in PUBLIC or name in {
            "scenario_list",
            "scenario_new",
            "run_list",
            "example_copy",
        }:
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
