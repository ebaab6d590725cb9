"""The team activity feed: saves, runs, comments and decisions of the team's
scenarios, newest first, paged, in a few queries whatever the page size."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dashboard.reviews import selectors
from dashboard.reviews.models import Comment, ReviewDecision
from dashboard.scenarios.services import scenario_create, scenario_version_create
from tests.web.factories import SMALL_DOC, make_run

pytestmark = pytest.mark.django_db


def _feed(team) -> str:
    return reverse("team_activity", args=[team.pk])


def test_the_feed_shows_saved_ran_commented_decided_newest_first(
    team, team_scenario, alice, carol, dave_client
):
    version = team_scenario.latest_version
    Comment.objects.create(version=version, author=carol, body="hm", component_id="web")
    ReviewDecision.objects.create(version=version, status="approved", decided_by=alice)
    # Another team's scenario, and alice's own: not in this feed.
    scenario_create(owner=alice, text=SMALL_DOC.replace("Small web", "Private"))
    response = dave_client.get(_feed(team))  # a viewer is a member
    assert response.status_code == 200
    page = response.content.decode()
    kinds = [e.kind for e in selectors.team_activity_page(team=team)[1]]
    assert kinds == ["decided", "commented", "ran", "saved"]
    for text in ("approved", "commented on", "ran", "saved"):
        assert text in page
    assert "Private" not in page


def test_an_outsider_gets_404(team, team_scenario, mallory_client):
    for method in ("get", "post"):
        assert getattr(mallory_client, method)(_feed(team)).status_code in (404, 405)
    assert mallory_client.get(_feed(team)).status_code == 404


def test_the_feed_filters_by_a_member(team, team_scenario, carol, alice_client):
    Comment.objects.create(version=team_scenario.latest_version, author=carol, body="c")
    _, events = selectors.team_activity_page(team=team, actor_id=carol.pk)
    assert [e.kind for e in events] == ["commented"]
    page = alice_client.get(_feed(team) + "?actor=carol").content.decode()
    assert "commented on" in page and "saved" not in page.split("</h1>")[1]
    nobody = alice_client.get(_feed(team) + "?actor=mallory").content.decode()
    assert "No activity by mallory" in nobody


def _lots(team_scenario, alice, carol, n: int) -> None:
    for i in range(n):
        version = scenario_version_create(
            scenario=team_scenario,
            text=SMALL_DOC.replace("rps: 100", f"rps: {101 + i}"),
            author=alice,
        )
        make_run(alice, team_scenario)
        Comment.objects.create(version=version, author=carol, body=f"c{i}")
        ReviewDecision.objects.create(
            version=version, status="changes_requested", decided_by=carol
        )


def test_the_query_count_does_not_grow_with_the_page(
    team, team_scenario, alice, carol, alice_client, django_assert_max_num_queries
):
    _lots(team_scenario, alice, carol, 2)
    with django_assert_max_num_queries(12) as small:
        alice_client.get(_feed(team))
    _lots(team_scenario, alice, carol, 12)
    with django_assert_max_num_queries(12) as full:
        page = alice_client.get(_feed(team)).content.decode()
    assert len(full.captured_queries) == len(small.captured_queries)
    assert page.count('class="event ') == selectors.ACTIVITY_PAGE_SIZE
    second = alice_client.get(_feed(team) + "?page=2").content.decode()
    assert "Page 2 of 2" in second
