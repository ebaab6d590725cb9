"""Reliability row 17: login throttled per username and per address (django-axes).

After LOGIN_FAILURE_LIMIT failed logins for one username, or from one address, the
login page answers 429 with a clear message, the right password included, until the
cool-off has passed; every failure is logged; other users and addresses carry on.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.conf import settings
from django.test import Client
from django.urls import reverse

LOGIN = reverse("login")
LOCKED = "Too many failed log-ins"


def _log_in(username: str, password: str, *, address: str, client=None):
    client = client or Client()
    response = client.post(
        LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address
    )
    return client, response


def _logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def _fail(username: str, *, address: str, times: int = 1) -> None:
    for _ in range(times):
        _, response = _log_in(username, "not-the-password", address=address)
        assert response.status_code in (200, 429)


@pytest.mark.django_db
def test_repeated_wrong_passwords_lock_that_user_out_even_with_the_right_password(
    alice, bob
):
    limit = settings.AXES_FAILURE_LIMIT
    for n in range(limit):  # each from another address: the username is what counts
        _, response = _log_in("alice", "wrong", address=f"10.0.1.{n + 1}")
        assert response.status_code == (429 if n == limit - 1 else 200)

    client, response = _log_in("alice", "alice-pass-123", address="10.0.2.1")
    assert response.status_code == 429
    text = response.content.decode()
    assert LOCKED in text
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    assert f"Try again in {minutes} minutes" in text
    assert "the right password is refused" in text
    assert int(response["Retry-After"]) == minutes * 60
    assert not _logged_in(client)

    client, response = _log_in("bob", "bob-pass-123", address="10.0.2.1")
    assert response.status_code == 302, "another user, same address: unaffected"
    assert _logged_in(client)


@pytest.mark.django_db
def test_repeated_failures_from_one_address_lock_that_address_for_every_username(
    alice,
):
    address = "192.0.2.66"
    for n in range(settings.AXES_FAILURE_LIMIT):
        _fail(f"guess-{n}", address=address)

    client, response = _log_in("alice", "alice-pass-123", address=address)
    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert not _logged_in(client)

    client, response = _log_in("alice", "alice-pass-123", address="192.0.2.67")
    assert response.status_code == 302, "the same user from another address logs in"
    assert _logged_in(client)


@pytest.mark.django_db
def test_the_right_password_works_once_the_lockout_has_ended(alice):
    _fail("alice", address="10.0.3.1", times=settings.AXES_FAILURE_LIMIT)
    _, response = _log_in("alice", "alice-pass-123", address="10.0.3.1")
    assert response.status_code == 429
    # Attempts refused during the lockout are not counted: it does not extend.
    _fail("alice", address="10.0.3.1", times=3)
    assert (
        AccessAttempt.objects.get(username="alice").failures_since_start
        == settings.AXES_FAILURE_LIMIT
    )

    # Time passes: the recorded failures become older than the cool-off.
    past = settings.AXES_COOLOFF_TIME + timedelta(seconds=1)
    for attempt in AccessAttempt.objects.all():
        attempt.attempt_time -= past
        attempt.save(update_fields=["attempt_time"])

    client, response = _log_in("alice", "alice-pass-123", address="10.0.3.1")
    assert response.status_code == 302
    assert response["Location"] == reverse("scenario_list")
    assert _logged_in(client)


@pytest.mark.django_db
def test_failed_logins_are_logged_with_username_and_address(alice, caplog):
    with caplog.at_level(logging.INFO, logger="axes"):
        _fail("alice", address="10.0.4.1", times=settings.AXES_FAILURE_LIMIT)
    failures = AccessFailureLog.objects.filter(username="alice")
    assert failures.count() == settings.AXES_FAILURE_LIMIT
    assert set(failures.values_list("ip_address", flat=True)) == {"10.0.4.1"}
    assert any(
        "alice" in r.getMessage() and "10.0.4.1" in r.getMessage()
        for r in caplog.records
    )
    assert any("locking out" in r.getMessage().lower() for r in caplog.records)


@pytest.mark.django_db
def test_a_few_typos_do_not_lock_anyone_out(alice):
    _fail("alice", address="10.0.5.1", times=settings.AXES_FAILURE_LIMIT - 1)
    client, response = _log_in("alice", "alice-pass-123", address="10.0.5.1")
    assert response.status_code == 302
    assert _logged_in(client)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("proxies", "forwarded", "counted"),
    [
        (0, "203.0.113.9", "10.9.9.9"),  # no proxy trusted: the header is ignored
        (1, "198.51.100.1, 203.0.113.9", "203.0.113.9"),  # the proxy's own entry
    ],
)
def test_the_counted_address_trusts_only_the_configured_proxies(
    settings, proxies, forwarded, counted
):
    settings.TRUSTED_PROXY_COUNT = proxies
    Client().post(
        LOGIN,
        {"username": "nobody", "password": "x"},
        REMOTE_ADDR="10.9.9.9",
        HTTP_X_FORWARDED_FOR=forwarded,
    )
    assert AccessAttempt.objects.get(username="nobody").ip_address == counted


@pytest.mark.django_db(transaction=True)
def test_the_lockout_page_comes_through_the_async_stack_too(alice):
    """Daphne runs the middleware asynchronously, where axes calls the lockout page
    with other arguments: the page must be the same."""
    import asyncio

    from asgiref.sync import sync_to_async
    from django.db import connections
    from django.test import AsyncClient

    async def attempts():
        statuses = []
        for _ in range(settings.AXES_FAILURE_LIMIT):
            response = await AsyncClient().post(
                LOGIN,
                {"username": "alice", "password": "wrong"},
                REMOTE_ADDR="10.7.0.1",
            )
            statuses.append(response.status_code)
        locked = await AsyncClient().post(
            LOGIN,
            {"username": "alice", "password": "alice-pass-123"},
            REMOTE_ADDR="10.7.0.2",
        )
        # The views ran in asgiref's worker thread: close its database connection.
        await sync_to_async(connections.close_all)()
        return statuses, locked

    statuses, locked = asyncio.run(attempts())
    assert statuses[-1] == 429
    assert locked.status_code == 429
    assert LOCKED in locked.content.decode()
