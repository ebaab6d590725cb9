"""Small middleware of our own: private caching of logged-in pages, and debug pages
kept to the machine's own account.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.utils.cache import patch_cache_control
from django.views import defaults

log = logging.getLogger(__name__)


def private_cache(get_response):
    """`Cache-Control: private` on every response to a logged-in user: a shared cache
    (a proxy, a CDN) must never hand one user's page to another."""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            patch_cache_control(response, private=True)
        return response

    return middleware


def is_local_account(user) -> bool:
    """The machine's own account: a superuser, or the one `ensure_local_account`
    created (named in var/local_account.txt)."""
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    record = settings.VAR_DIR / "local_account.txt"
    try:
        recorded = record.read_text().split("/", 1)[0].strip()
    except OSError:
        return False
    return bool(recorded) and recorded == user.username


class DebugPagesForLocalAccount:
    """With DEBUG on, Django answers a 404 with every URL pattern and a 500 with the
    settings and a traceback. Only the local account sees those; everyone else gets
    the plain pages, as with DEBUG off. Does nothing when DEBUG is off.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def _hidden(self, request: HttpRequest) -> bool:
        return settings.DEBUG and not is_local_account(request.user)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self._hidden(request):
            try:
                resolve(request.path_info)
            except Resolver404 as exc:
                return defaults.page_not_found(request, exc)
        return self.get_response(request)

    def process_exception(
        self, request: HttpRequest, exception: Exception
    ) -> HttpResponse | None:
        if not self._hidden(request):
            return None
        if isinstance(exception, Http404):
            return defaults.page_not_found(request, exception)
        # PermissionDenied, BadRequest and friends render plain pages already.
        if isinstance(exception, (PermissionDenied, BadRequest, SuspiciousOperation)):
            return None
        log.error("Internal Server Error: %s", request.path, exc_info=exception)
        return defaults.server_error(request)
