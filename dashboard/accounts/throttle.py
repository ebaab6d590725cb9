"""Login throttling glue for django-axes: the client's address and the lockout page.

Axes counts failed logins per username and per address (settings.py, "Accounts") and
refuses further attempts, right password included, until the cool-off has passed since
the last counted failure. Refused attempts do not extend the lockout.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Max, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone


def client_ip(request: HttpRequest) -> str:
    """The address a lockout counts: REMOTE_ADDR, or the N-th X-Forwarded-For entry
    from the right behind TRUSTED_PROXY_COUNT proxies (earlier entries are the
    client's to forge)."""
    count = settings.TRUSTED_PROXY_COUNT
    remote = request.META.get("REMOTE_ADDR", "")
    if count:
        hops = [
            hop.strip()
            for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if hop.strip()
        ]
        if len(hops) >= count:
            return hops[-count]
    return remote


def lockout_response(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    """The page a locked-out login gets (429): why, and when to try again."""
    from axes.helpers import get_client_username, get_cool_off
    from axes.models import AccessAttempt

    cool_off = get_cool_off(request)
    username = get_client_username(request) or ""
    last = AccessAttempt.objects.filter(
        Q(username=username) | Q(ip_address=client_ip(request))
    ).aggregate(last=Max("attempt_time"))["last"]
    retry_at = (last or timezone.now()) + cool_off
    minutes = max(1, -(-int((retry_at - timezone.now()).total_seconds()) // 60))
    response = render(
        request,
        "registration/locked_out.html",
        {
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "lockout_minutes": int(cool_off.total_seconds() // 60),
            "retry_at": retry_at,
            "retry_minutes": minutes,
        },
        status=429,
    )
    response["Retry-After"] = str(minutes * 60)
    return response
