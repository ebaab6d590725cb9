"""Reliability rows 6 and 18: a WebSocket opens only from this server's own origin.

Scheme, host and port must all match the handshake's Host (or an entry of
CSRF_TRUSTED_ORIGINS): a page on another port of the same host is refused.
"""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator

from dashboard.asgi import application
from dashboard.origins import parse_origin
from tests.web.factories import make_run, make_scenario
from tests.web.test_websocket import _cookie_for


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def _connects(run_id, cookie: bytes, *, host: str, origin: str | None, **scope) -> bool:
    headers = [(b"host", host.encode()), (b"cookie", cookie)]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    for name, value in scope.pop("extra_headers", ()):
        headers.append((name, value))

    channel_layers.backends.clear()  # a layer is bound to the loop that made it

    async def attempt() -> bool:
        communicator = WebsocketCommunicator(
            application, f"/ws/runs/{run_id}/?after=-1", headers=headers
        )
        communicator.scope.update(scope)
        connected, _ = await communicator.connect(timeout=5)
        await communicator.disconnect()
        return connected

    return asyncio.run(attempt())


@pytest.fixture
def alices_run(alice):
    run = make_run(alice, make_scenario(alice))
    return run.pk, _cookie_for(alice)


@pytest.mark.django_db(transaction=True)
def test_the_pages_own_origin_connects(alices_run):
    run_id, cookie = alices_run
    assert _connects(
        run_id, cookie, host="127.0.0.1:8000", origin="http://127.0.0.1:8000"
    )
    assert _connects(run_id, cookie, host="localhost", origin="http://localhost")
    assert _connects(
        run_id, cookie, host="127.0.0.1:8000", origin="HTTP://127.0.0.1:8000"
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:9999",  # another port of the same host
        "https://127.0.0.1:8000",  # another scheme
        "http://127.0.0.1",  # the default port is another port
        "http://evil.example.com:8000",  # another host
        "null",  # a sandboxed or file: page
        "",
    ],
)
def test_another_port_scheme_or_host_is_refused(alices_run, origin):
    run_id, cookie = alices_run
    assert not _connects(run_id, cookie, host="127.0.0.1:8000", origin=origin)


@pytest.mark.django_db(transaction=True)
def test_a_handshake_without_origin_is_refused(alices_run):
    run_id, cookie = alices_run
    assert not _connects(run_id, cookie, host="127.0.0.1:8000", origin=None)


@pytest.mark.django_db(transaction=True)
def test_a_host_outside_allowed_hosts_is_refused_even_when_it_matches(alices_run):
    """DNS rebinding: evil.example.com resolves to us, its page's origin matches the
    Host it sends, but that Host is not one of ALLOWED_HOSTS."""
    run_id, cookie = alices_run
    assert not _connects(
        run_id,
        cookie,
        host="evil.example.com:8000",
        origin="http://evil.example.com:8000",
    )


@pytest.mark.django_db(transaction=True)
def test_tls_pages_connect_over_wss_and_through_a_tls_proxy(alices_run, settings):
    run_id, cookie = alices_run
    assert _connects(
        run_id, cookie, host="127.0.0.1", origin="https://127.0.0.1", scheme="wss"
    )
    assert not _connects(
        run_id, cookie, host="127.0.0.1", origin="http://127.0.0.1", scheme="wss"
    )
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert _connects(
        run_id,
        cookie,
        host="127.0.0.1",
        origin="https://127.0.0.1",
        extra_headers=[(b"x-forwarded-proto", b"https")],
    )


@pytest.mark.django_db(transaction=True)
def test_a_csrf_trusted_origin_connects(alices_run, settings):
    run_id, cookie = alices_run
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com"]
    assert _connects(
        run_id, cookie, host="127.0.0.1:8000", origin="https://app.example.com"
    )
    assert not _connects(
        run_id, cookie, host="127.0.0.1:8000", origin="https://app.example.com:444"
    )
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.example.com"]
    assert _connects(
        run_id, cookie, host="127.0.0.1:8000", origin="https://eu.app.example.com"
    )
    assert not _connects(
        run_id, cookie, host="127.0.0.1:8000", origin="https://example.com.evil.org"
    )


def test_origins_compare_with_default_ports_filled_in():
    assert parse_origin("https://a.example") == ("https", "a.example", 443)
    assert parse_origin("http://A.example:80") == ("http", "a.example", 80)
    assert parse_origin("ftp://a.example") is None
    assert parse_origin("http://a.example:99999") is None
