"""Reliability row 18 (pages): the CSP, private caching, HEAD wherever GET, and no
DEBUG pages for anyone but the machine's own account."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from tests.web.factories import make_run, make_scenario


def _directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    directives = {}
    for part in policy.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.mark.django_db
def test_pages_carry_a_csp_that_allows_no_inline_script(alice):
    scenario = make_scenario(alice)
    run = make_run(alice, scenario)
    client = Client()
    client.force_login(alice)
    for url in (
        reverse("scenario_list"),
        reverse("scenario_detail", args=[scenario.pk]),
        reverse("run_detail", args=[run.pk]),
    ):
        csp = _directives(client.get(url))
        assert csp["script-src"] == ["'self'"], url
        assert csp["default-src"] == ["'self'"]
        assert csp["object-src"] == ["'none'"]
        assert csp["frame-ancestors"] == ["'none'"]
        assert csp["base-uri"] == ["'self'"]
        assert csp["form-action"] == ["'self'"]
        assert "'unsafe-inline'" not in csp["style-src-elem"]
    assert _directives(Client().get(reverse("login")))["script-src"] == ["'self'"]


@pytest.mark.django_db
def test_templates_hold_no_inline_script_or_event_handler(alice):
    """What the CSP would block must not be in our pages in the first place."""
    import re

    scenario = make_scenario(alice)
    run = make_run(alice, scenario)
    client = Client()
    client.force_login(alice)
    for url in (
        reverse("scenario_list"),
        reverse("scenario_detail", args=[scenario.pk]),
        reverse("run_detail", args=[run.pk]),
        reverse("run_list"),
    ):
        html = client.get(url).content.decode()
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, (url, tag)
        assert not re.search(r"\son[a-z]+\s*=", html), url
        assert "hx-on" not in html, url
        assert "javascript:" not in html, url


@pytest.mark.django_db
def test_logged_in_pages_are_private_to_caches(route_urls, alice):
    client = Client()
    client.force_login(alice)
    checked = 0
    for name, url in route_urls:
        response = client.get(url)
        if response.status_code == 405:
            continue
        assert "private" in response.get("Cache-Control", ""), (name, response)
        checked += 1
    assert checked >= 8


@pytest.mark.django_db
def test_head_is_answered_wherever_get_is(route_urls, alice, bob):
    """HEAD gets the status GET gets (never 405), for the owner, a stranger and an
    anonymous visitor alike."""
    anonymous = Client()
    owner = Client()
    owner.force_login(alice)
    stranger = Client()
    stranger.force_login(bob)
    checked = 0
    for name, url in route_urls:
        for client in (owner, stranger, anonymous):
            get = client.get(url)
            if get.status_code == 405:  # a POST-only route: HEAD is refused alike
                assert client.head(url).status_code == 405, name
                continue
            head = client.head(url)
            assert head.status_code == get.status_code, (name, get, head)
            assert head.content == b"", name
            checked += 1
    assert checked >= 20


@pytest.mark.django_db
@override_settings(DEBUG=True)
def test_with_debug_on_a_strangers_404_is_the_plain_page(
    alice, bob, settings, tmp_path
):
    settings.VAR_DIR = tmp_path
    (tmp_path / "local_account.txt").write_text("local / secret\n")
    scenario = make_scenario(alice)
    client = Client()
    client.force_login(bob)
    for url in (
        reverse("scenario_detail", args=[scenario.pk]),  # someone else's: Http404
        "/no/such/page/",  # no URL pattern at all
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        text = response.content.decode()
        assert "URLconf" not in text, url
        assert "Django tried these URL patterns" not in text, url
        assert "DEBUG = True" not in text, url
    anonymous = Client().get("/no/such/page/")
    assert anonymous.status_code == 404
    assert "URLconf" not in anonymous.content.decode()


@pytest.mark.django_db
@override_settings(DEBUG=True)
def test_with_debug_on_the_local_account_still_gets_the_debug_404(settings, tmp_path):
    from django.contrib.auth.models import User

    settings.VAR_DIR = tmp_path
    (tmp_path / "local_account.txt").write_text("local / secret\n")
    client = Client()
    client.force_login(User.objects.create_user("local", password="x"))
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert "URLconf" in response.content.decode()


@pytest.mark.django_db
@override_settings(DEBUG=True)
def test_with_debug_on_a_strangers_500_shows_no_traceback_or_settings(
    bob, settings, tmp_path, monkeypatch
):
    settings.VAR_DIR = tmp_path

    def broken(**kwargs):
        raise RuntimeError("a secret detail of the failure")

    monkeypatch.setattr("dashboard.scenarios.selectors.scenarios_for_user", broken)
    client = Client()
    client.force_login(bob)
    response = client.get(reverse("scenario_list"))
    assert response.status_code == 500
    text = response.content.decode()
    assert "a secret detail" not in text
    assert "Traceback" not in text
    assert "SECRET_KEY" not in text
