"""Stored XSS, server side: the files a user's text goes into are never HTML.

The review's Markdown export and a run's report.json carry user text (comments,
names, messages, region names) verbatim, as they must; so they are served with a
non-HTML content type and `X-Content-Type-Options: nosniff`, for the owner and
through a share link, and a browser never sniffs them into a page. Usernames
cannot carry markup at all (signup refuses it). The HTML pages are checked in a
real browser by tests/browser/test_stored_xss.py.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from dashboard.reviews.services import comment_create
from dashboard.runs import execution
from dashboard.runs.models import Run
from dashboard.scenarios.services import scenario_create
from dashboard.sharing.services import share_link_create
from tests.web.factories import SMALL_DOC

SCRIPT = "<script>window.__xss=1</script>"
IMG = '<img src=x onerror="window.__xss=2">'
DOC = (
    SMALL_DOC.replace("name: Small web tier", f"name: {json.dumps('Shop ' + SCRIPT)}")
    .replace("rps: 100}", f"rps: 100, regions: {{{json.dumps(IMG)}: 1}}}}")
    .replace("mean: 10}}", f"mean: 10}}, region: {json.dumps(IMG)}}}")
)


@pytest.fixture
def payload_world(alice):
    scenario = scenario_create(owner=alice, text=DOC, message=f"v1 {IMG}")
    version = scenario.latest_version
    comment_create(version=version, author=alice, body=f"{SCRIPT}\n\n{IMG}")
    run = Run.objects.create(
        owner=alice,
        scenario=scenario,
        version=version,
        name=scenario.name,
        document_text=DOC,
        seed=7,
    )
    assert execution.run_execute(run_id=run.pk) == Run.Status.SUCCEEDED
    _link, token = share_link_create(scenario=scenario, created_by=alice)
    return scenario, run, token


def _not_html(response, content_type: str) -> None:
    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] == content_type
    assert "html" not in response["Content-Type"]
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_the_markdown_export_is_a_nosniff_markdown_download_with_the_text_verbatim(
    alice_client, payload_world
):
    scenario, _run, _token = payload_world
    response = alice_client.get(
        reverse("review_markdown", kwargs={"pk": scenario.pk, "number": 1})
    )
    _not_html(response, "text/markdown")
    assert response["Content-Disposition"].startswith("attachment;")
    text = response.content.decode()
    # Verbatim: a Markdown file says what was written; it is never rendered here.
    assert SCRIPT in text and IMG in text


@pytest.mark.django_db
def test_report_json_is_nosniff_json_for_the_owner_and_through_a_share_link(
    client, alice_client, payload_world
):
    _scenario, run, token = payload_world
    own = alice_client.get(reverse("run_report_json", kwargs={"run_id": run.pk}))
    _not_html(own, "application/json")
    assert json.loads(own.content) == Run.objects.get(pk=run.pk).report
    shared = client.get(
        reverse("shared_run_report_json", kwargs={"token": token, "run_id": run.pk})
    )
    _not_html(shared, "application/json")
    assert shared.content == own.content


@pytest.mark.django_db
def test_html_pages_escape_the_payloads(alice_client, payload_world):
    scenario, run, _token = payload_world
    for url in (
        reverse("scenario_list"),
        reverse("scenario_detail", kwargs={"pk": scenario.pk}),
        reverse("review_detail", kwargs={"pk": scenario.pk, "number": 1}),
        reverse("run_detail", kwargs={"run_id": run.pk}),
        reverse("run_list"),
    ):
        page = alice_client.get(url).content.decode()
        assert SCRIPT not in page, url
        assert IMG not in page, url
        assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in page, url


@pytest.mark.django_db
@pytest.mark.parametrize(
    "username", ["<script>x</script>", 'a"onmouseover="x', "<img src=x>", "a&b"]
)
def test_signup_refuses_a_username_with_markup(client, username):
    response = client.post(
        reverse("signup"),
        {
            "username": username,
            "password1": "correct-Horse-battery-42",
            "password2": "correct-Horse-battery-42",
        },
    )
    assert response.status_code in (200, 400)
    assert "username" in response.context["form"].errors
    assert not User.objects.filter(username=username).exists()
