"""Web fixtures: alice, bob and mallory logged in, and a small world to walk routes in.

The users themselves (`alice`, `bob`, `mallory`) come from tests/conftest.py; here
are `django.test.Client`s logged in as each. Tests never import fixtures from one
another: a fixture two files need lives here.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from dashboard.api.services import token_create
from dashboard.reviews.models import Comment, Notification
from dashboard.runs.models import RunSnapshot
from dashboard.scenarios.services import example_upsert, scenario_create
from dashboard.sharing.services import share_link_create
from dashboard.teams.models import Role
from dashboard.teams.services import member_add, team_create
from tests.web.factories import SMALL_DOC, make_run, make_scenario


def _logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alice_client(alice) -> Client:
    return _logged_in(alice)


@pytest.fixture
def bob_client(bob) -> Client:
    return _logged_in(bob)


@pytest.fixture
def mallory_client(mallory) -> Client:
    return _logged_in(mallory)


@pytest.fixture
def carol_client(carol) -> Client:
    return _logged_in(carol)


@pytest.fixture
def dave_client(dave) -> Client:
    return _logged_in(dave)


@pytest.fixture
def team(alice, carol, dave):
    """alice's team "Platform": alice owns it, carol edits, dave views."""
    team = team_create(creator=alice, name="Platform")
    member_add(team=team, username="carol", role=Role.EDITOR, added_by=alice)
    member_add(team=team, username="dave", role=Role.VIEWER, added_by=alice)
    return team


@pytest.fixture
def team_scenario(team, alice):
    """A scenario of the team "Platform", with one run."""
    scenario = scenario_create(owner=alice, text=SMALL_DOC, team=team)
    make_run(alice, scenario)
    return scenario


@pytest.fixture
def world(alice) -> dict:
    """One of everything alice owns, as sample values for every route's parameters."""
    scenario = make_scenario(alice)
    run = make_run(alice, scenario)
    RunSnapshot.objects.create(run=run, seq=0, data={"seq": 0})
    example, _ = example_upsert(slug="walker-example", text=SMALL_DOC)
    link, token = share_link_create(scenario=scenario, created_by=alice)
    api_token, _secret = token_create(user=alice, name="walker")
    team = team_create(creator=alice, name="Walker team")
    version = scenario.latest_version
    comment = Comment.objects.create(version=version, author=alice, body="walker")
    notification = Notification.objects.create(
        recipient=alice,
        kind=Notification.Kind.MENTION,
        version=version,
        comment=comment,
    )
    return {
        "pk": scenario.pk,
        "number": 1,
        "a": 1,
        "b": 1,
        "run_id": run.pk,
        "slug": example.slug,
        "token": token,  # an active share link to `pk` (routes under /s/)
        "link_id": link.pk,
        "team_id": team.pk,
        "comment_id": comment.pk,
        "notification_id": notification.pk,
        "user_id": alice.pk,
        "token_id": api_token.pk,  # alice's API token (/account/tokens/)
    }


#: URL namespaces the walker leaves out: the Django admin's own routes (staff only,
#: behind its own login; tests/web/test_admin.py checks that), and the HTTP API
#: (Bearer tokens, no session or CSRF: tests/web/test_api.py walks every path).
UNWALKED_NAMESPACES = {"admin", "api"}


def _named_patterns(patterns=None):
    patterns = get_resolver().url_patterns if patterns is None else patterns
    for p in patterns:
        if isinstance(p, URLResolver):
            if p.namespace in UNWALKED_NAMESPACES:
                continue
            yield from _named_patterns(p.url_patterns)
        elif isinstance(p, URLPattern):
            yield p


@pytest.fixture
def route_urls(world) -> list[tuple[str, str]]:
    """(name, url) of every named route, its parameters filled from `world`.

    A new route whose parameter has no sample value in `world` fails here, so nobody
    adds a page without deciding who may see it.
    """
    urls = []
    for pattern in _named_patterns():
        assert pattern.name, f"route {pattern.pattern} has no name"
        params = pattern.pattern.converters.keys()
        missing = [p for p in params if p not in world]
        assert not missing, f"route {pattern.name} needs a sample value for {missing}"
        urls.append(
            (pattern.name, reverse(pattern.name, kwargs={p: world[p] for p in params}))
        )
    return urls
