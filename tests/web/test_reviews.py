"""Design reviews: comments (threads, pins, mentions), decisions, the review page and
its Markdown export, walked as alice (owner), carol (editor), dave (viewer) and
mallory (outsider). Each test checks the response, then the database."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dashboard.reviews.models import Comment, Notification, Review, ReviewDecision
from dashboard.runs.models import Run
from dashboard.scenarios.services import scenario_version_create
from tests.web.factories import SMALL_DOC, make_run, make_scenario

pytestmark = pytest.mark.django_db

MORE_LOAD = SMALL_DOC.replace("rps: 100", "rps: 150")


def url(name: str, scenario, number: int = 1, **kwargs) -> str:
    return reverse(name, kwargs={"pk": scenario.pk, "number": number, **kwargs})


def comment(client, scenario, number=1, **data):
    return client.post(url("review_comment_create", scenario, number), data)


def _rows():
    return (
        Comment.objects.count(),
        ReviewDecision.objects.count(),
        Review.objects.count(),
        Notification.objects.count(),
        tuple(Comment.objects.values_list("body", "edited_at").order_by("pk")),
        tuple(Notification.objects.values_list("read_at").order_by("pk")),
    )


def _report(rps: float, p99: float) -> dict:
    return {
        "throughput_rps": rps,
        "latency_ms": {"p50": p99 / 4, "p99": p99},
        "requests": {"offered": 1000, "errors": 10, "timeouts": 0, "rejected": 0},
        "cost": {"per_hour": 1.5},
        "bottleneck": {"component": "web", "utilization": 0.5},
    }


# --- comments ------------------------------------------------------------------------


def test_an_editor_comments_and_the_review_page_shows_it_rendered(
    team_scenario, carol, carol_client
):
    response = comment(carol_client, team_scenario, body="The **cache** fixes it")
    c = Comment.objects.get()
    assert response.status_code == 302
    assert response["Location"].endswith(f"/review/#comment-{c.pk}")
    assert (c.author, c.body, c.parent, c.version.number) == (
        carol,
        "The **cache** fixes it",
        None,
        1,
    )
    page = carol_client.get(url("review_detail", team_scenario)).content.decode()
    assert "The <strong>cache</strong> fixes it" in page
    assert f'id="comment-{c.pk}"' in page


def test_replies_form_one_level_threads(team_scenario, alice_client, carol_client):
    comment(alice_client, team_scenario, body="root")
    root = Comment.objects.get()
    comment(carol_client, team_scenario, body="reply", parent=root.pk)
    reply = Comment.objects.get(body="reply")
    comment(alice_client, team_scenario, body="reply to reply", parent=reply.pk)
    assert Comment.objects.get(body="reply to reply").parent == root
    assert reply.parent == root
    page = alice_client.get(url("review_detail", team_scenario)).content.decode()
    thread = page.split(f'id="thread-{root.pk}"')[1].split("</article>")[0]
    assert "reply to reply" in thread and "reply" in thread


def test_a_reply_to_a_comment_of_another_version_is_refused(
    team_scenario, alice, carol_client
):
    scenario_version_create(scenario=team_scenario, text=MORE_LOAD, author=alice)
    comment(carol_client, team_scenario, 2, body="on v2")
    other = Comment.objects.get()
    response = comment(carol_client, team_scenario, 1, body="x", parent=other.pk)
    assert response.status_code == 400
    assert b"parent" in response.content
    assert Comment.objects.count() == 1


def test_authors_edit_and_delete_their_own_comments_only(
    team_scenario, alice_client, carol_client
):
    comment(carol_client, team_scenario, body="first take")
    c = Comment.objects.get()
    edit = url("review_comment_edit", team_scenario, comment_id=c.pk)
    delete = url("review_comment_delete", team_scenario, comment_id=c.pk)
    # alice owns the team but the words are carol's.
    assert alice_client.post(edit, {"body": "rewritten"}).status_code == 403
    assert alice_client.post(delete).status_code == 403
    c.refresh_from_db()
    assert (c.body, c.edited_at) == ("first take", None)
    assert carol_client.post(edit, {"body": "second take"}).status_code == 302
    c.refresh_from_db()
    assert c.body == "second take" and c.edited_at is not None
    assert carol_client.post(delete).status_code == 302
    assert not Comment.objects.exists()


def test_deleting_a_comment_with_replies_keeps_the_thread(
    team_scenario, alice_client, carol_client
):
    comment(carol_client, team_scenario, body="root text")
    root = Comment.objects.get()
    comment(alice_client, team_scenario, body="an answer", parent=root.pk)
    carol_client.post(url("review_comment_delete", team_scenario, comment_id=root.pk))
    root.refresh_from_db()
    assert root.deleted_at is not None and root.body == ""
    page = alice_client.get(url("review_detail", team_scenario)).content.decode()
    assert "(comment deleted)" in page and "an answer" in page
    assert "root text" not in page
    # The last reply gone, the placeholder goes too.
    answer = Comment.objects.get(body="an answer")
    alice_client.post(url("review_comment_delete", team_scenario, comment_id=answer.pk))
    assert not Comment.objects.exists()


def test_a_comment_of_another_version_is_404_through_this_version(
    team_scenario, alice, carol_client
):
    scenario_version_create(scenario=team_scenario, text=MORE_LOAD, author=alice)
    comment(carol_client, team_scenario, 2, body="on v2")
    c = Comment.objects.get()
    edit = url("review_comment_edit", team_scenario, 1, comment_id=c.pk)
    assert carol_client.post(edit, {"body": "moved"}).status_code == 404
    assert Comment.objects.get().body == "on v2"


# --- pins ------------------------------------------------------------------------------


def test_a_pin_must_name_a_component_of_the_version(team_scenario, carol_client):
    response = comment(carol_client, team_scenario, body="hot", component_id="nope")
    assert response.status_code == 400
    assert b"component_id" in response.content and b"nope" in response.content
    assert b"hot</textarea>" in response.content  # the text is kept
    assert not Comment.objects.exists()
    assert (
        comment(carol_client, team_scenario, body="hot", component_id="web").status_code
        == 302
    )
    assert Comment.objects.get().component_id == "web"


def test_pins_reach_the_designer_as_json(team_scenario, carol_client, alice_client):
    comment(carol_client, team_scenario, body="a", component_id="web")
    comment(alice_client, team_scenario, body="b", component_id="web")
    comment(alice_client, team_scenario, body="c", component_id="lb")
    comment(alice_client, team_scenario, body="unpinned")
    first = Comment.objects.order_by("pk").first()
    page = alice_client.get(reverse("scenario_detail", args=[team_scenario.pk]))
    raw = re.search(
        r'<script id="designer-pins" type="application/json">(.*?)</script>',
        page.content.decode(),
    ).group(1)
    pins = json.loads(raw)
    review = url("review_detail", team_scenario)
    assert pins == {
        "web": {"count": 2, "url": f"{review}#comment-{first.pk}"},
        "lb": {"count": 1, "url": pins["lb"]["url"]},
    }
    assert 'data-testid="panel-status">Open<' in page.content.decode()
    assert "4 comments" in page.content.decode()


def test_a_pin_to_a_run_must_be_a_run_of_the_scenario(
    team_scenario, alice, carol_client
):
    foreign = make_run(alice, make_scenario(alice))
    for bad in (str(foreign.pk), "not-a-uuid"):
        response = comment(carol_client, team_scenario, body="x", run=bad)
        assert response.status_code == 400
        assert b"<code>run</code>" in response.content
    assert not Comment.objects.exists()
    run = team_scenario.runs.get()
    assert comment(carol_client, team_scenario, body="x", run=run.pk).status_code == 302
    assert Comment.objects.get().run == run


# --- input limits ------------------------------------------------------------------------


def test_comment_text_limits(team_scenario, carol_client):
    assert comment(carol_client, team_scenario, body="a\x00b").status_code == 400
    assert comment(carol_client, team_scenario, body="   ").status_code == 400
    response = comment(carol_client, team_scenario, body="x" * 10_001)
    assert response.status_code == 400
    assert b"10,001 characters" in response.content
    assert not Comment.objects.exists()
    assert comment(carol_client, team_scenario, body="x" * 10_000).status_code == 302
    assert len(Comment.objects.get().body) == 10_000


def test_an_edit_with_a_nul_or_too_long_is_refused(team_scenario, carol_client):
    comment(carol_client, team_scenario, body="ok")
    c = Comment.objects.get()
    edit = url("review_comment_edit", team_scenario, comment_id=c.pk)
    assert carol_client.post(edit, {"body": "\x00"}).status_code == 400
    assert carol_client.post(edit, {"body": "y" * 10_001}).status_code == 400
    c.refresh_from_db()
    assert (c.body, c.edited_at) == ("ok", None)


# --- who may do what ---------------------------------------------------------------------


def test_a_viewer_reads_the_review_but_cannot_write(
    team_scenario, alice_client, dave_client
):
    comment(alice_client, team_scenario, body="visible to dave")
    c = Comment.objects.get()
    page = dave_client.get(url("review_detail", team_scenario))
    assert page.status_code == 200 and b"visible to dave" in page.content
    assert b'id="new-comment"' not in page.content
    assert dave_client.get(url("review_markdown", team_scenario)).status_code == 200
    before = _rows()
    for name, data in (
        ("review_comment_create", {"body": "dave was here"}),
        ("review_decide", {"status": "approved"}),
        ("review_request", {"reviewers": "carol"}),
        ("review_question", {"question": "?"}),
    ):
        assert dave_client.post(url(name, team_scenario), data).status_code == 403, name
    for name in ("review_comment_edit", "review_comment_delete"):
        response = dave_client.post(
            url(name, team_scenario, comment_id=c.pk), {"body": "x"}
        )
        assert response.status_code == 403
    assert _rows() == before


def _routes(scenario, c, n) -> list[str]:
    return [
        url("review_detail", scenario),
        url("review_markdown", scenario),
        url("review_comment_create", scenario),
        url("review_comment_edit", scenario, comment_id=c.pk),
        url("review_comment_delete", scenario, comment_id=c.pk),
        url("review_question", scenario),
        url("review_request", scenario),
        url("review_decide", scenario),
        reverse("inbox_read", args=[n.pk]),
        reverse("team_activity", args=[scenario.team_id]),
    ]


def test_an_outsider_gets_404_on_every_route_and_method_and_nothing_changes(
    team_scenario, alice_client, carol_client, mallory_client
):
    comment(carol_client, team_scenario, body="ping @alice")
    c = Comment.objects.get()
    n = Notification.objects.get()
    before = _rows()
    for route in _routes(team_scenario, c, n):
        codes = set()
        for method in ("get", "post", "put", "patch", "delete"):
            response = getattr(mallory_client, method)(
                route,
                {"body": "mallory", "status": "approved", "reviewers": "mallory"},
            )
            assert response.status_code in (404, 405), (route, method)
            codes.add(response.status_code)
        assert 404 in codes, route
    assert _rows() == before


def test_anonymous_users_are_sent_to_log_in(team_scenario, carol_client):
    comment(carol_client, team_scenario, body="x @alice")
    c, n = Comment.objects.get(), Notification.objects.get()
    anonymous = Client()
    for route in [*_routes(team_scenario, c, n), reverse("inbox")]:
        response = anonymous.post(route, {"body": "anon"})
        assert (
            response.status_code == 302 and "/accounts/login/" in response["Location"]
        )
    assert Comment.objects.count() == 1


def test_every_write_without_a_csrf_token_is_refused(team_scenario, carol, alice):
    comment_row = Comment.objects.create(
        version=team_scenario.latest_version, author=carol, body="mine"
    )
    notification = Notification.objects.create(
        recipient=carol, kind=Notification.Kind.MENTION, actor=alice
    )
    client = Client(enforce_csrf_checks=True)
    client.force_login(carol)
    before = _rows()
    for route, data in (
        (url("review_comment_create", team_scenario), {"body": "x"}),
        (
            url("review_comment_edit", team_scenario, comment_id=comment_row.pk),
            {"body": "y"},
        ),
        (url("review_comment_delete", team_scenario, comment_id=comment_row.pk), {}),
        (url("review_question", team_scenario), {"question": "q"}),
        (url("review_request", team_scenario), {"reviewers": "alice"}),
        (url("review_decide", team_scenario), {"status": "approved"}),
        (reverse("inbox_read", args=[notification.pk]), {}),
        (reverse("inbox_read_all"), {}),
    ):
        assert client.post(route, data).status_code == 403, route
    assert _rows() == before


# --- mentions ------------------------------------------------------------------------------


def test_mentions_notify_members_only(team_scenario, alice, dave, carol_client):
    body = "@alice and @dave, see `@alice` in code; not @mallory, @nobody or @carol"
    comment(carol_client, team_scenario, body=body)
    c = Comment.objects.get()
    rows = Notification.objects.order_by("recipient__username")
    assert [(n.recipient, n.kind, n.comment) for n in rows] == [
        (alice, "mention", c),
        (dave, "mention", c),
    ]
    page = carol_client.get(url("review_detail", team_scenario)).content.decode()
    feed = reverse("team_activity", args=[team_scenario.team_id])
    assert f'<a class="mention" href="{feed}?actor=alice"' in page
    assert "@mallory" in page and "actor=mallory" not in page


def test_an_edit_notifies_only_the_newly_mentioned(
    team_scenario, alice, dave, carol_client
):
    comment(carol_client, team_scenario, body="@alice")
    c = Comment.objects.get()
    carol_client.post(
        url("review_comment_edit", team_scenario, comment_id=c.pk),
        {"body": "@alice and now @dave"},
    )
    assert sorted(
        Notification.objects.values_list("recipient__username", flat=True)
    ) == [
        "alice",
        "dave",
    ]


def test_in_a_personal_scenario_only_the_owner_is_a_member(alice, alice_client, bob):
    scenario = make_scenario(alice)
    comment(alice_client, scenario, body="@bob @alice")
    assert not Notification.objects.exists()  # bob is no member; alice is the writer
    page = alice_client.get(url("review_detail", scenario)).content.decode()
    assert 'class="mention"' in page and "@bob" in page


# --- decisions and requests -------------------------------------------------------------------


def test_decisions_are_recorded_with_who_and_when_and_the_latest_wins(
    team_scenario, alice, carol, alice_client, carol_client
):
    decide = url("review_decide", team_scenario)
    t0 = timezone.now()
    carol_client.post(decide, {"status": "changes_requested", "note": "cache first"})
    alice_client.post(decide, {"status": "approved"})
    rows = list(ReviewDecision.objects.order_by("decided_at", "pk"))
    assert [(d.status, d.decided_by, d.note) for d in rows] == [
        ("changes_requested", carol, "cache first"),
        ("approved", alice, ""),
    ]
    assert all(d.decided_at >= t0 for d in rows)
    page = carol_client.get(url("review_detail", team_scenario)).content.decode()
    assert 'data-testid="review-status">Approved<' in page
    assert "cache first" in page  # history kept
    # alice authored the version: told of carol's decision; carol of alice's.
    told = Notification.objects.filter(kind="decision")
    assert sorted((n.recipient.username, n.actor.username) for n in told) == [
        ("alice", "carol"),
        ("carol", "alice"),
    ]


def test_a_bad_decision_is_refused(team_scenario, carol_client):
    response = carol_client.post(
        url("review_decide", team_scenario), {"status": "merged"}
    )
    assert response.status_code == 400 and b"<code>status</code>" in response.content
    assert not ReviewDecision.objects.exists()


def test_review_requests_go_to_members_who_may_review(
    team_scenario, carol, alice_client
):
    request_url = url("review_request", team_scenario)
    for who, why in (("dave", b"may only view"), ("mallory", b"not a member")):
        response = alice_client.post(request_url, {"reviewers": who})
        assert response.status_code == 400 and why in response.content
    assert alice_client.post(request_url, {}).status_code == 400
    assert not Notification.objects.exists()
    assert alice_client.post(request_url, {"reviewers": "carol"}).status_code == 302
    n = Notification.objects.get()
    assert (n.recipient, n.kind, n.version) == (
        carol,
        "review_request",
        team_scenario.latest_version,
    )
    page = alice_client.get(url("review_detail", team_scenario)).content.decode()
    assert "asked <strong>carol</strong> to review" in page


def test_the_question_is_set_and_shown(team_scenario, alice, carol_client):
    page = carol_client.get(url("review_detail", team_scenario)).content.decode()
    assert "The version's message, by alice" in page  # "Created" stands for it
    response = carol_client.post(
        url("review_question", team_scenario), {"question": "Does a cache fix p99?"}
    )
    assert response.status_code == 302
    assert Review.objects.get().question == "Does a cache fix p99?"
    page = carol_client.get(url("review_detail", team_scenario)).content.decode()
    assert "Does a cache fix p99?" in page
    too_long = carol_client.post(
        url("review_question", team_scenario), {"question": "q" * 2001}
    )
    assert too_long.status_code == 400 and b"<code>question</code>" in too_long.content


# --- the review page and its export ----------------------------------------------------------


@pytest.fixture
def two_versions_with_runs(team_scenario, alice):
    v2 = scenario_version_create(
        scenario=team_scenario, text=MORE_LOAD, author=alice, message="More load"
    )
    v1 = team_scenario.versions.get(number=1)
    for version, rps, p99 in ((v1, 100.0, 40.0), (v2, 150.0, 30.0)):
        Run.objects.create(
            owner=alice,
            scenario=team_scenario,
            version=version,
            name="run",
            document_text=version.document_text,
            seed=1,
            status=Run.Status.SUCCEEDED,
            finished_at=timezone.now(),
            report=_report(rps, p99),
        )
    return v1, v2


def test_the_review_page_compares_with_the_previous_version(
    team_scenario, two_versions_with_runs, carol_client
):
    page = carol_client.get(url("review_detail", team_scenario, 2)).content.decode()
    # The versions' diff region (dashboard.scenarios.diff), canvas and all.
    assert "<code>workload.rps</code>: <del>100</del> → <ins>150</ins>" in page
    assert 'id="diff-canvas"' in page and 'id="diff-graph"' in page
    assert 'data-testid="metrics"' in page
    assert '<td>+50.00 <span class="verdict">better</span></td>' in page
    runs = page.split('id="runs"')[1].split("</section>")[0]
    assert "<td>150.0</td>" in runs and "<td>100.0</td>" in runs  # both versions
    assert (
        carol_client.get(url("review_detail", team_scenario, 2) + "?base=9").status_code
        == 404
    )
    first = carol_client.get(url("review_detail", team_scenario, 1)).content.decode()
    assert "is the first version" in first


def test_the_markdown_export_holds_the_whole_decision_record(
    team_scenario, two_versions_with_runs, alice_client, carol_client
):
    carol_client.post(
        url("review_question", team_scenario, 2), {"question": "Ship v2?"}
    )
    comment(
        carol_client,
        team_scenario,
        2,
        body="p99 <script>alert(1)</script> drops",
        component_id="web",
    )
    carol_client.post(
        url("review_decide", team_scenario, 2),
        {"status": "changes_requested", "note": "add a cache"},
    )
    alice_client.post(url("review_decide", team_scenario, 2), {"status": "approved"})
    response = carol_client.get(url("review_markdown", team_scenario, 2))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/markdown")
    assert response["Content-Disposition"].startswith("attachment;")
    text = response.content.decode()
    assert text.startswith(f"# Design review: {team_scenario.name} v2")
    assert "- Status: **Approved** (alice," in text
    assert "> Ship v2?" in text
    assert "Version 1 → version 2." in text
    assert "- Setting `workload.rps`: 100 → 150" in text
    assert (
        "| Throughput | 100.00 req/s | 150.00 req/s | +50.00 req/s (better) |" in text
    )
    assert "on component `web` (service)" in text
    assert "> p99 <script>alert(1)</script> drops" in text  # as written: a download
    assert "**Changes requested** by carol" in text and "add a cache" in text
    assert "### Version 1" in text and "req/s, p99 30 ms" in text


def test_a_chosen_base_is_compared_instead_of_the_previous_version(
    team_scenario, alice, carol_client
):
    scenario_version_create(scenario=team_scenario, text=MORE_LOAD, author=alice)
    scenario_version_create(
        scenario=team_scenario,
        text=MORE_LOAD.replace("instances: 2", "instances: 5"),
        author=alice,
    )
    previous = carol_client.get(url("review_detail", team_scenario, 3)).content.decode()
    assert (
        "<del>100</del>" not in previous and "<del>2</del> → <ins>5</ins>" in previous
    )
    chosen = carol_client.get(url("review_detail", team_scenario, 3) + "?base=1")
    page = chosen.content.decode()
    assert "<del>100</del> → <ins>150</ins>" in page
    assert '<option value="1" selected>' in page
    export = carol_client.get(url("review_markdown", team_scenario, 3) + "?base=1")
    assert "Version 1 → version 3." in export.content.decode()
    assert carol_client.get(url("review_detail", team_scenario, 9)).status_code == 404
