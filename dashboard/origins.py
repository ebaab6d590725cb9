"""The WebSocket origin check: the page must come from this very server.

Channels' `AllowedHostsOriginValidator` compares host names only, so a page served on
another port of the same host (another app on the machine) could open a socket with the
user's cookies. This one compares scheme, host and port with the request's own origin
(its Host header, `ws`->`http`, `wss`->`https`), or with an entry of
CSRF_TRUSTED_ORIGINS, and requires the Host to be one of ALLOWED_HOSTS (else a DNS
rebinding page would match itself). A handshake without an Origin header is refused:
browsers always send one.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

_DEFAULT_PORT = {"http": 80, "https": 443}
_HTTP_SCHEME = {"ws": "http", "wss": "https"}

Origin = tuple[str, str, int]


def parse_origin(value: str) -> Origin | None:
    """(scheme, host, port) of an origin such as `https://example.com:8443`."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORT or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORT[scheme]


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _request_scheme(scope) -> str:
    scheme = _HTTP_SCHEME.get(scope.get("scheme", "ws"), "http")
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        header, secure_value = proxy
        name = header.removeprefix("HTTP_").replace("_", "-").lower().encode()
        forwarded = _header(scope, name)
        if forwarded is not None:
            scheme = "https" if forwarded.strip() == secure_value else "http"
    return scheme


def request_origin(scope) -> Origin | None:
    """The origin a page of this server has, from the handshake's Host header."""
    host = _header(scope, b"host")
    if not host:
        return None
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    return parse_origin(f"{_request_scheme(scope)}://{host}")


def origin_allowed(scope) -> bool:
    raw = _header(scope, b"origin")
    origin = parse_origin(raw) if raw else None
    if origin is None:
        return False
    if origin == request_origin(scope):
        return True
    return any(_trusted(origin, entry) for entry in settings.CSRF_TRUSTED_ORIGINS)


def _trusted(origin: Origin, entry: str) -> bool:
    """Does `origin` match a CSRF_TRUSTED_ORIGINS entry (`https://*.example.com`
    matches its subdomains, as Django's CSRF check does)?"""
    trusted = parse_origin(entry)
    if trusted is None:
        return False
    scheme, host, port = trusted
    if host.startswith("*."):
        return (
            origin[0] == scheme and origin[2] == port and origin[1].endswith(host[1:])
        )
    return origin == trusted


class SameOriginValidator:
    """ASGI middleware: refuse WebSocket handshakes from any other origin."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        return await self.application(scope, receive, send)
