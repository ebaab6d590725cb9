"""The inbox: notifications of mentions, review requests and decisions; the unread
count in every page's header (one query); each user reads and marks only their own."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from dashboard.reviews.context_processors import InboxBadge
from dashboard.reviews.models import Notification

pytestmark = pytest.mark.django_db


def _mention(recipient, actor, version=None, **kw) -> Notification:
    return Notification.objects.create(
        recipient=recipient,
        kind=Notification.Kind.MENTION,
        actor=actor,
        version=version,
        **kw,
    )


def test_the_header_shows_the_unread_count(alice, bob, alice_client, bob_client):
    _mention(alice, bob)
    _mention(alice, bob)
    _mention(bob, alice)
    page = alice_client.get(reverse("scenario_list")).content.decode()
    assert '<span class="inbox-count" aria-label="2 unread">2</span>' in page
    page = bob_client.get(reverse("run_list")).content.decode()
    assert 'aria-label="1 unread">1</span>' in page


def test_no_count_when_all_is_read_and_no_link_for_anonymous_users(alice, alice_client):
    page = alice_client.get(reverse("scenario_list")).content.decode()
    assert 'data-testid="inbox-link"' in page and "inbox-count" not in page
    login = Client().get(reverse("login")).content.decode()
    assert "inbox" not in login.lower()


def test_the_count_is_one_query_read_once(alice, bob, django_assert_num_queries):
    _mention(alice, bob)
    badge = InboxBadge(alice)
    with django_assert_num_queries(1):
        assert badge.unread == 1
        assert badge.unread == 1


def test_the_inbox_lists_only_ones_own_newest_first(
    team_scenario, alice, bob, carol, alice_client
):
    version = team_scenario.latest_version
    older = _mention(alice, carol, version)
    newer = Notification.objects.create(
        recipient=alice,
        kind=Notification.Kind.REVIEW_REQUEST,
        actor=carol,
        version=version,
    )
    _mention(bob, carol, version)
    page = alice_client.get(reverse("inbox")).content.decode()
    assert page.index(f"notification-{newer.pk}") < page.index(
        f"notification-{older.pk}"
    )
    assert "asked you to review" in page and "mentioned you" in page
    assert page.count('class="notification') == 2


def test_marking_read_and_opening(team_scenario, alice, carol, alice_client):
    version = team_scenario.latest_version
    n = _mention(alice, carol, version)
    response = alice_client.post(reverse("inbox_read", args=[n.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("inbox")
    n.refresh_from_db()
    assert n.read_at is not None
    other = _mention(alice, carol, version)
    response = alice_client.post(reverse("inbox_read", args=[other.pk]), {"open": "1"})
    review = reverse("review_detail", args=[team_scenario.pk, version.number])
    assert response["Location"] == review
    other.refresh_from_db()
    assert other.read_at is not None


def test_mark_all_read_touches_only_ones_own(alice, bob, alice_client):
    mine = [_mention(alice, bob), _mention(alice, bob)]
    theirs = _mention(bob, alice)
    assert alice_client.post(reverse("inbox_read_all")).status_code == 302
    assert all(Notification.objects.get(pk=n.pk).read_at for n in mine)
    assert Notification.objects.get(pk=theirs.pk).read_at is None


def test_bob_cannot_mark_or_open_alices_notification(alice, bob, bob_client):
    n = _mention(alice, bob)
    for data in ({}, {"open": "1"}):
        assert (
            bob_client.post(reverse("inbox_read", args=[n.pk]), data).status_code == 404
        )
    assert bob_client.get(reverse("inbox_read", args=[n.pk])).status_code == 405
    n.refresh_from_db()
    assert n.read_at is None
    assert (
        f"notification-{n.pk}" not in bob_client.get(reverse("inbox")).content.decode()
    )


def test_a_mention_arrives_in_the_inbox_end_to_end(
    team_scenario, alice_client, carol_client
):
    carol_client.post(
        reverse("review_comment_create", args=[team_scenario.pk, 1]),
        {"body": "@alice is the cache warm?"},
    )
    page = alice_client.get(reverse("inbox")).content.decode()
    assert "<strong>carol</strong>" in page and "is the cache warm?" in page
    assert 'aria-label="1 unread"' in page
