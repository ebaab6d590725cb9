"""The account's API tokens page: the list, a new token (shown this once), revoke
after a confirmation. The API itself is `api.py`."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from dashboard.api import selectors, services
from dashboard.api.forms import TokenForm
from dashboard.inputs import refuse_unstorable_text

GET_OR_POST = ["GET", "HEAD", "POST"]


def _page(request, form, *, created=None, status=200) -> HttpResponse:
    return render(
        request,
        "api/tokens.html",
        {
            "form": form,
            "tokens": selectors.tokens_for_user(user=request.user),
            "created": created,
        },
        status=status,
    )


@login_required
@refuse_unstorable_text
@require_http_methods(GET_OR_POST)
def token_list(request: HttpRequest) -> HttpResponse:
    """The user's tokens; POST makes one and shows it, once."""
    if request.method != "POST":
        return _page(request, TokenForm())
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    token, secret = services.token_create(
        user=request.user,
        name=form.cleaned_data["name"],
        expires_at=form.cleaned_data["expires_at"],
    )
    response = _page(request, TokenForm(), created={"token": token, "secret": secret})
    # This page holds the token: no cache keeps it, no referrer carries it off.
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


@login_required
@refuse_unstorable_text
@require_http_methods(GET_OR_POST)
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    """GET: "Revoke this token?"; POST: revoke it (404 for anybody else's)."""
    token = selectors.token_get_for_user(user=request.user, token_id=token_id)
    if request.method != "POST":
        return render(request, "api/token_revoke.html", {"token": token})
    services.token_revoke(token=token)
    messages.success(request, f"Revoked the token “{token.name}” ({token.prefix}…).")
    return redirect("api_tokens")
