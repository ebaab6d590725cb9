"""Share links: read-only access by token (reliability row 4).

A link's token is shown once and stored only as its SHA-256; through a link every
write is 403 and nothing changes; an expired or revoked link 404s at once on every
shared route; a link to one scenario reaches nothing of another; only those who may
manage the scenario make or revoke links. The live stream accepts a share visitor and
drops them when the link is revoked.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import re

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.db import connection, connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dashboard.asgi import application
from dashboard.runs.models import Run, RunSnapshot
from dashboard.scenarios.models import Scenario, ScenarioVersion
from dashboard.scenarios.services import scenario_version_create
from dashboard.sharing import selectors
from dashboard.sharing.models import ShareLink
from dashboard.sharing.services import share_link_create, share_link_revoke
from tests.web.factories import SMALL_DOC, StreamCommunicator, make_run, make_scenario

SHARED_PREFIX = "/s/"
WRITES = ("post", "put", "patch", "delete")
REPORT = {"format": 1, "throughput_rps": 99.5, "latency_ms": {"p50": 9, "p99": 31}}


def _shared_urls(route_urls) -> list[tuple[str, str]]:
    urls = [(n, u) for n, u in route_urls if u.startswith(SHARED_PREFIX)]
    assert len(urls) >= 7, urls  # the walker sees every shared route
    return urls


def _row_counts():
    return (
        User.objects.count(),
        Scenario.objects.count(),
        ScenarioVersion.objects.count(),
        Run.objects.count(),
        RunSnapshot.objects.count(),
        tuple(Run.objects.values_list("status", flat=True).order_by("pk")),
        tuple(
            ShareLink.objects.values_list("label", "revoked_at", "expires_at").order_by(
                "pk"
            )
        ),
    )


def _token_from(html: str) -> str:
    match = re.search(r'id="share-url" value="[^"]*/s/([A-Za-z0-9_-]+)/"', html)
    assert match, html
    return match.group(1)


# --- making links ----------------------------------------------------------------


@pytest.mark.django_db
def test_a_token_is_shown_once_and_never_stored_in_clear(alice, alice_client):
    scenario = make_scenario(alice)
    url = reverse("share_manage", args=[scenario.pk])
    response = alice_client.post(url, {"label": "ops review", "expires": "7d"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    assert response["Referrer-Policy"] == "no-referrer"
    token = _token_from(response.content.decode())
    assert len(token) == 43  # secrets.token_urlsafe(32)

    link = ShareLink.objects.get()
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert link.hint == token[:4]
    assert link.created_by == alice and link.label == "ops review"
    # Neither the row nor the whole table holds the token (or most of it).
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {ShareLink._meta.db_table}")
        table = repr(cursor.fetchall())
    assert token not in table and token[4:] not in table and token[:20] not in table
    # The list shows the link (by its hint), never the URL again.
    listing = alice_client.get(url).content.decode()
    assert link.hint in listing and "ops review" in listing
    assert token not in listing
    assert (
        token
        not in alice_client.get(
            reverse("scenario_detail", args=[scenario.pk])
        ).content.decode()
    )


@pytest.mark.django_db
def test_a_link_is_found_by_the_hash_of_its_token_and_nothing_else(alice):
    scenario = make_scenario(alice)
    link, token = share_link_create(scenario=scenario, created_by=alice)
    assert selectors.share_link_get(token=token) == link
    near = token[:-1] + ("A" if token[-1] != "A" else "B")
    for wrong in (near, link.token_hash, link.hint, token.upper(), "", "x" * 500):
        assert selectors.share_link_get_or_none(token=wrong) is None, wrong
    assert Client().get(f"/s/{near}/").status_code == 404


@pytest.mark.django_db
def test_expiry_choices_set_the_time_the_link_stops_working(alice, alice_client):
    scenario = make_scenario(alice)
    url = reverse("share_manage", args=[scenario.pk])
    before = timezone.now()
    for choice, days in (("1d", 1), ("7d", 7), ("30d", 30)):
        assert alice_client.post(url, {"expires": choice}).status_code == 200
        link = ShareLink.objects.first()
        assert abs(link.expires_at - before - dt.timedelta(days=days)) < dt.timedelta(
            minutes=1
        )
    assert alice_client.post(url, {"expires": "never"}).status_code == 200
    assert ShareLink.objects.first().expires_at is None
    on = (timezone.now() + dt.timedelta(days=3)).date()
    assert (
        alice_client.post(
            url, {"expires": "date", "expires_on": on.isoformat()}
        ).status_code
        == 200
    )
    assert ShareLink.objects.first().expires_at == dt.datetime.combine(
        on + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"label": "ops\x00review", "expires": "7d"}, "label"),
        ({"label": "x" * 101, "expires": "7d"}, "Label"),
        ({"expires": "forever"}, "Expires"),
        ({"expires": "date"}, "Expiry date"),
        ({"expires": "date", "expires_on": "2020-01-01"}, "Expiry date"),
        ({"expires": "date", "expires_on": "9999-12-31"}, "Expiry date"),
        ({"expires": "date", "expires_on": "not a date"}, "Expiry date"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_nothing_is_saved(
    alice, alice_client, data, field
):
    scenario = make_scenario(alice)
    response = alice_client.post(reverse("share_manage", args=[scenario.pk]), data)
    assert response.status_code == 400
    assert field in response.content.decode()
    assert not ShareLink.objects.exists()


@pytest.mark.django_db
def test_only_those_who_manage_the_scenario_make_or_revoke_links(
    team_scenario, alice, carol_client, dave_client, mallory_client, alice_client
):
    link, _ = share_link_create(scenario=team_scenario, created_by=alice)
    manage = reverse("share_manage", args=[team_scenario.pk])
    revoke = reverse("share_revoke", args=[team_scenario.pk, link.pk])
    before = _row_counts()
    for client, code in (
        (carol_client, 403),
        (dave_client, 403),
        (mallory_client, 404),
    ):
        assert client.get(manage).status_code == code
        assert client.post(manage, {"expires": "never"}).status_code == code
        assert client.post(revoke).status_code == code
        page = client.get(reverse("scenario_detail", args=[team_scenario.pk]))
        assert b"share-panel" not in page.content
    assert _row_counts() == before
    # The team's owner does; a link of another scenario is not theirs to revoke.
    page = alice_client.get(reverse("scenario_detail", args=[team_scenario.pk]))
    assert b'id="share-panel"' in page.content and link.hint.encode() in page.content
    other = make_scenario(alice)
    wrong = reverse("share_revoke", args=[other.pk, link.pk])
    assert alice_client.post(wrong).status_code == 404
    assert alice_client.post(revoke).status_code == 302
    link.refresh_from_db()
    assert link.revoked_at is not None


# --- visiting links ---------------------------------------------------------------


@pytest.mark.django_db
def test_every_shared_route_answers_a_visitor_without_a_login(route_urls, world):
    Run.objects.filter(pk=world["run_id"]).update(
        report=REPORT, status=Run.Status.SUCCEEDED
    )
    client = Client()
    for name, url in _shared_urls(route_urls):
        response = client.get(url)
        if name == "shared_designer_apply":
            assert response.status_code == 403, name  # POST only, and it saves nothing
        else:
            assert response.status_code == 200, (name, response.status_code)
        assert response["Referrer-Policy"] == "no-referrer", name
        assert response["Cache-Control"] == "private, no-store", name
        assert "noindex" in response["X-Robots-Tag"], name


@pytest.mark.django_db
def test_a_shared_page_is_read_only_and_says_who_shared_it(alice, world):
    # Still queued (a Cancel button for its owner), with a report to show.
    Run.objects.filter(pk=world["run_id"]).update(report=REPORT)
    client = Client()
    token = world["token"]
    page = client.get(f"/s/{token}/").content.decode()
    assert "Shared read-only by <strong>alice</strong>" in page
    assert re.search(r'<section[^>]*id="designer"[^>]*data-readonly="true"', page)
    assert f'data-apply-url="/s/{token}/designer/apply"' in page
    run_page = client.get(f"/s/{token}/runs/{world['run_id']}/").content.decode()
    meta = json.loads(
        re.search(r'<script id="run-meta"[^>]*>(.*?)</script>', run_page).group(1)
    )
    assert meta["ws_path"] == f"/ws/runs/{world['run_id']}/?share={token}"
    assert meta["report_url"] == f"/s/{token}/runs/{world['run_id']}/report"
    assert "Shared read-only by" in run_page and "99.5" in run_page
    version_page = client.get(f"/s/{token}/versions/1/").content.decode()
    diff_page = client.get(f"/s/{token}/diff/1/1/").content.decode()
    runs_page = client.get(f"/s/{token}/runs/").content.decode()
    for html in (page, run_page, version_page, diff_page, runs_page):
        assert 'method="post"' not in html.lower()
        assert "Save version" not in html and ">Run</button>" not in html
        assert ">Cancel</button>" not in html and "Run this version" not in html
        assert '<button type="submit"' not in html
        # No way into the signed-in app's pages of this scenario or run.
        assert f"/scenarios/{world['pk']}/" not in html
        assert f"/runs/{world['run_id']}/cancel" not in html


@pytest.mark.django_db
def test_every_write_under_a_share_link_is_403_and_changes_nothing(route_urls, world):
    before = _row_counts()
    client = Client()
    for name, url in _shared_urls(route_urls):
        for method in WRITES:
            if name == "shared_designer_apply" and method == "post":
                continue
            response = getattr(client, method)(url, data={"document": SMALL_DOC})
            assert response.status_code == 403, (name, method, response.status_code)
    # Also with a CSRF check, and the one POST the designer makes: saves nothing.
    strict = Client(enforce_csrf_checks=True)
    for name, url in _shared_urls(route_urls):
        assert strict.post(url).status_code == 403, name
    apply = reverse("shared_designer_apply", args=[world["token"]])
    response = client.post(
        apply, {"text": SMALL_DOC + "# edited\n"}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["valid"] is True
    assert _row_counts() == before


@pytest.mark.django_db
def test_the_shared_designer_answers_as_the_signed_in_one_does(alice, alice_client):
    scenario = make_scenario(alice)
    _, token = share_link_create(scenario=scenario, created_by=alice)
    for body in (
        {"text": SMALL_DOC},
        {"text": "components: [unclosed"},
        {"text": SMALL_DOC, "format": "json"},
    ):
        ours = Client().post(
            f"/s/{token}/designer/apply", body, content_type="application/json"
        )
        theirs = alice_client.post(
            reverse("designer_apply", args=[scenario.pk]),
            body,
            content_type="application/json",
        )
        assert ours.status_code == theirs.status_code == 200
        assert ours.json() == theirs.json()
    bad = Client().post(f"/s/{token}/designer/apply", {"text": SMALL_DOC})
    assert bad.status_code == 400  # a form body, as designer_apply refuses it


@pytest.mark.django_db
def test_a_revoked_link_404s_at_once_on_every_shared_route(route_urls, world):
    Run.objects.filter(pk=world["run_id"]).update(report=REPORT)
    client = Client()
    urls = _shared_urls(route_urls)
    assert client.get(urls[0][1]).status_code == 200
    share_link_revoke(link=ShareLink.objects.get(pk=world["link_id"]))
    for name, url in urls:
        method = "post" if name == "shared_designer_apply" else "get"
        response = getattr(client, method)(
            url, {"text": SMALL_DOC}, content_type="application/json"
        )
        assert response.status_code == 404, (name, response.status_code)
        assert response["Cache-Control"] == "private, no-store", name


@pytest.mark.django_db
def test_an_expired_link_404s_on_every_shared_route(route_urls, world):
    Run.objects.filter(pk=world["run_id"]).update(report=REPORT)
    ShareLink.objects.filter(pk=world["link_id"]).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    client = Client()
    for name, url in _shared_urls(route_urls):
        method = "post" if name == "shared_designer_apply" else "get"
        response = getattr(client, method)(
            url, {"text": SMALL_DOC}, content_type="application/json"
        )
        assert response.status_code == 404, (name, response.status_code)
    # Still listed for its owner, as expired.
    link = ShareLink.objects.get(pk=world["link_id"])
    assert not link.is_active() and link.revoked_at is None


@pytest.mark.django_db
def test_a_link_to_one_scenario_reaches_nothing_of_another(alice, bob):
    mine = make_scenario(alice)
    _, token = share_link_create(scenario=mine, created_by=alice)
    other = make_scenario(alice)  # alice's too: the link still reaches only `mine`
    scenario_version_create(scenario=other, text=SMALL_DOC + "# v2\n", author=alice)
    theirs = make_scenario(bob)
    client = Client()
    assert client.get(f"/s/{token}/versions/1/").status_code == 200
    assert client.get(f"/s/{token}/versions/2/").status_code == 404
    assert client.get(f"/s/{token}/diff/1/1/").status_code == 200
    assert client.get(f"/s/{token}/diff/1/2/").status_code == 404
    assert client.get(f"/s/{token}/diff/2/1/").status_code == 404
    for scenario in (other, theirs):
        run = make_run(scenario.owner, scenario)
        Run.objects.filter(pk=run.pk).update(report=REPORT)
        for suffix in ("", "report", "report.json"):
            url = f"/s/{token}/runs/{run.pk}/{suffix}"
            assert client.get(url).status_code == 404, url
    runs = client.get(f"/s/{token}/runs/").content.decode()
    assert str(run.pk) not in runs


@pytest.mark.django_db
def test_the_shared_diff_shows_the_changes_with_links_by_token(alice):
    scenario = make_scenario(alice)
    scenario_version_create(
        scenario=scenario,
        text=SMALL_DOC.replace("instances: 2", "instances: 5"),
        author=alice,
        message="more web",
    )
    _, token = share_link_create(scenario=scenario, created_by=alice)
    page = Client().get(f"/s/{token}/diff/1/2/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-component="web"' in html and "instances" in html
    assert f"/s/{token}/versions/1/" in html and f"/s/{token}/versions/2/" in html
    assert f"/scenarios/{scenario.pk}/" not in html
    assert 'method="post"' not in html.lower()
    assert "Shared read-only by" in html
    assert f"/s/{token}/diff/1/2/" in Client().get(f"/s/{token}/").content.decode()


@pytest.mark.django_db
def test_last_used_is_recorded_at_most_once_a_minute(alice):
    scenario = make_scenario(alice)
    link, token = share_link_create(scenario=scenario, created_by=alice)
    assert link.last_used_at is None
    client = Client()
    client.get(f"/s/{token}/")
    link.refresh_from_db()
    first = link.last_used_at
    assert first is not None
    client.get(f"/s/{token}/")
    link.refresh_from_db()
    assert link.last_used_at == first  # within the minute: not written again
    ShareLink.objects.filter(pk=link.pk).update(
        last_used_at=first - dt.timedelta(minutes=2)
    )
    client.get(f"/s/{token}/runs/")
    link.refresh_from_db()
    assert link.last_used_at > first - dt.timedelta(seconds=1)


# --- the live stream ---------------------------------------------------------------

ORIGIN = (b"origin", b"http://127.0.0.1")


@pytest.fixture
def fresh_channel_layer():
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def _socket(run_id, query: str) -> WebsocketCommunicator:
    return StreamCommunicator(
        application,
        f"/ws/runs/{run_id}/?{query}",
        headers=[ORIGIN, (b"host", b"127.0.0.1")],
    )


@pytest.mark.django_db(transaction=True)
def test_a_share_visitor_streams_the_run_and_others_are_refused(
    alice, bob, fresh_channel_layer
):
    scenario = make_scenario(alice)
    run = make_run(alice, scenario)
    for seq in range(3):
        RunSnapshot.objects.create(run=run, seq=seq, data={"seq": seq})
    _, token = share_link_create(scenario=scenario, created_by=alice)
    revoked, revoked_token = share_link_create(scenario=scenario, created_by=alice)
    share_link_revoke(link=revoked)
    _, other_token = share_link_create(scenario=make_scenario(bob), created_by=bob)

    async def scenario_():
        viewer = _socket(run.pk, f"share={token}&after=0")
        connected, _ = await viewer.connect(timeout=5)
        assert connected
        backlog = await viewer.receive_json_from(timeout=5)
        status = await viewer.receive_json_from(timeout=5)
        await viewer.disconnect()
        refused = []
        for query in (
            f"share={revoked_token}",
            f"share={other_token}",
            "share=" + "A" * 43,
            "after=-1",
        ):
            socket = _socket(run.pk, query)
            connected, _ = await socket.connect(timeout=5)
            refused.append(not connected)
            await socket.disconnect()
        await sync_to_async(connections.close_all)()  # the executor's connection
        return backlog, status, refused

    backlog, status, refused = asyncio.run(scenario_())
    assert [item["seq"] for item in backlog["items"]] == [1, 2]  # after=0 still works
    assert status["type"] == "status" and status["backlog"] is True
    assert refused == [True, True, True, True]


@pytest.mark.django_db(transaction=True)
def test_revoking_a_link_closes_its_open_sockets_at_once(alice, fresh_channel_layer):
    scenario = make_scenario(alice)
    run = make_run(alice, scenario)
    link, token = share_link_create(scenario=scenario, created_by=alice)
    _, other_token = share_link_create(scenario=scenario, created_by=alice)

    async def scenario_():
        viewer = _socket(run.pk, f"share={token}")
        bystander = _socket(run.pk, f"share={other_token}")
        for socket in (viewer, bystander):
            connected, _ = await socket.connect(timeout=5)
            assert connected
            await socket.receive_json_from(timeout=5)  # the status ending the backlog
        await database_sync_to_async(share_link_revoke)(link=link)
        closed = await viewer.receive_output(timeout=5)
        await viewer.disconnect()
        # The other link's socket stays open.
        still_open = await bystander.receive_nothing(timeout=0.5)
        await bystander.disconnect()
        await sync_to_async(connections.close_all)()  # the executor's connection
        return closed, still_open

    closed, still_open = asyncio.run(scenario_())
    assert closed == {"type": "websocket.close", "code": 4410}
    assert still_open


@pytest.mark.django_db
def test_unstorable_text_in_a_shared_query_is_a_400(world):
    response = Client().get(f"/s/{world['token']}/", {"version": "1\x00"})
    assert response.status_code == 400
    assert b"version" in response.content
    assert response["Cache-Control"] == "private, no-store"


@pytest.mark.django_db
def test_the_shared_page_loads_the_designer_as_the_module_it_is(alice_client, world):
    # designer.js imports its parts (ES modules): loaded as a classic script it stops
    # at its first `import` and the shared canvas never draws.
    module = '<script type="module" src="/static/js/designer.js">'
    shared = Client().get(f"/s/{world['token']}/").content.decode()
    own = alice_client.get(f"/scenarios/{world['pk']}/").content.decode()
    assert module in shared and module in own
    assert '<script src="/static/js/designer.js">' not in shared
