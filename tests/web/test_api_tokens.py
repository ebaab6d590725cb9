"""The account's API tokens page (/account/tokens/) and the tokens' admin: a token
is shown once and stored as a hash, listed with its prefix and status, revoked after
a confirmation; another user's token is a 404; the forms are CSRF-protected and
refuse text that cannot be stored."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from dashboard.api.models import ApiToken
from dashboard.api.services import token_create

pytestmark = pytest.mark.django_db
TOKENS = reverse("api_tokens")


def _secret_on(page: bytes) -> str:
    found = re.search(rb'id="token-secret" value="(sb_[A-Za-z0-9_-]{43})"', page)
    assert found, page
    return found.group(1).decode()


def test_a_new_token_is_shown_once_and_only_its_hash_is_kept(alice, alice_client):
    response = alice_client.post(TOKENS, {"name": "CI gate", "expires": "30d"})
    assert response.status_code == 200
    secret = _secret_on(response.content)
    assert response["Cache-Control"] == "private, no-store"
    assert response["Referrer-Policy"] == "no-referrer"
    token = ApiToken.objects.get(user=alice)
    assert token.name == "CI gate"
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert token.prefix == secret[:10]
    assert token.expires_at is not None
    assert secret not in str(list(ApiToken.objects.values()))
    # The list shows its prefix, never the token again.
    listing = alice_client.get(TOKENS)
    assert secret.encode() not in listing.content
    assert f"{token.prefix}…".encode() in listing.content
    assert b"active" in listing.content and b"never" in listing.content
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/scenarios").status_code == 200


def test_a_token_that_never_expires(alice, alice_client):
    alice_client.post(TOKENS, {"name": "forever", "expires": "never"})
    assert ApiToken.objects.get(user=alice).expires_at is None


def test_the_form_names_what_is_wrong_and_makes_nothing(alice_client):
    for data, field in (
        ({"name": "", "expires": "30d"}, b"Name:"),
        ({"name": "x" * 101, "expires": "30d"}, b"Name:"),
        ({"name": "ok", "expires": "forever"}, b"Expires:"),
    ):
        response = alice_client.post(TOKENS, data)
        assert response.status_code == 400, data
        assert field in response.content
    assert ApiToken.objects.count() == 0


def test_nul_is_refused_naming_the_field(alice_client):
    # (A form is UTF-8 on the wire, where a lone surrogate cannot be; the API's
    # JSON escapes can carry one: tests/web/test_api.py.)
    for data in (
        {"name": "ci\x00", "expires": "30d"},
        {"name": "ci", "expires": "\x00"},
    ):
        response = alice_client.post(TOKENS, data)
        assert response.status_code == 400
        assert b"NUL" in response.content
    assert alice_client.post(TOKENS, {"name": "ci\x00"}).content.startswith(b"name: ")
    assert ApiToken.objects.count() == 0


def test_revoke_asks_first_then_the_token_is_refused(alice, alice_client):
    token, secret = token_create(user=alice, name="deploy")
    url = reverse("api_token_revoke", args=[token.pk])
    assert url.encode() in alice_client.get(TOKENS).content
    confirm = alice_client.get(url)
    assert confirm.status_code == 200
    assert b"Revoke \xe2\x80\x9cdeploy\xe2\x80\x9d?" in confirm.content
    token.refresh_from_db()
    assert token.revoked_at is None  # asking changes nothing
    response = alice_client.post(url)
    assert response.status_code == 302 and response["Location"] == TOKENS
    token.refresh_from_db()
    first = token.revoked_at
    assert first is not None
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/scenarios").status_code == 401
    alice_client.post(url)
    token.refresh_from_db()
    assert token.revoked_at == first  # the first revoke's time is kept
    assert b"revoked" in alice_client.get(TOKENS).content


def test_another_users_token_is_a_404_and_stays_active(alice, mallory_client):
    token, _secret = token_create(user=alice, name="alice's")
    url = reverse("api_token_revoke", args=[token.pk])
    assert mallory_client.get(url).status_code == 404
    assert mallory_client.post(url).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert b"alice&#x27;s" not in mallory_client.get(TOKENS).content


def test_the_forms_need_their_csrf_token(alice):
    token, _ = token_create(user=alice, name="t")
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(TOKENS, {"name": "x", "expires": "30d"}).status_code == 403
    url = reverse("api_token_revoke", args=[token.pk])
    assert client.post(url).status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None and ApiToken.objects.count() == 1


def test_the_header_links_to_the_tokens_page(alice_client):
    page = alice_client.get(reverse("scenario_list"))
    assert f'href="{TOKENS}"'.encode() in page.content


def test_anonymous_visitors_are_sent_to_log_in():
    for url in (TOKENS, reverse("api_token_revoke", args=[1])):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


# --- The admin ---------------------------------------------------------------------


@pytest.fixture
def staff_client(db) -> Client:
    operator = User.objects.create_user(
        "operator", password="operator-pass-123", is_staff=True, is_superuser=True
    )
    client = Client()
    client.force_login(operator)
    return client


def test_operators_see_tokens_read_only_and_can_revoke_them(alice, staff_client):
    token, secret = token_create(user=alice, name="ci")
    changelist = reverse("admin:api_apitoken_changelist")
    page = staff_client.get(changelist)
    assert page.status_code == 200 and token.prefix.encode() in page.content
    change = reverse("admin:api_apitoken_change", args=[token.pk])
    detail = staff_client.get(change)
    assert detail.status_code == 200
    assert token.token_hash.encode() in detail.content
    assert b'name="token_hash"' not in detail.content  # shown, not editable
    assert secret.encode() not in detail.content
    response = staff_client.post(change, {"name": "renamed", "token_hash": "0" * 64})
    assert response.status_code == 403
    assert staff_client.get(reverse("admin:api_apitoken_add")).status_code == 403
    response = staff_client.post(
        changelist,
        {"action": "revoke_tokens", "_selected_action": [token.pk]},
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None and token.name == "ci"
