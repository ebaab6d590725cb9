"""Reliability row 5: CSRF on every unsafe method, security headers on pages."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.web.factories import make_run, make_scenario


@pytest.mark.django_db
def test_every_unsafe_request_without_a_csrf_token_is_refused(route_urls, alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    for name, url in route_urls:
        for method in ("post", "put", "patch", "delete"):
            response = getattr(client, method)(url)
            assert response.status_code == 403, (name, method, response.status_code)


@pytest.mark.django_db
def test_login_form_needs_its_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        reverse("login"), {"username": "alice", "password": "alice-pass-123"}
    )
    assert response.status_code == 403


@pytest.mark.django_db
def test_pages_carry_frame_and_sniffing_headers(alice, alice_client):
    scenario = make_scenario(alice)
    run = make_run(alice, scenario)
    client = alice_client
    for url in (
        reverse("scenario_list"),
        reverse("scenario_detail", args=[scenario.pk]),
        reverse("run_detail", args=[run.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
    login_page = Client().get(reverse("login"))
    assert login_page["X-Frame-Options"] == "DENY"
