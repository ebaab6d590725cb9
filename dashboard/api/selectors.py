"""Reads of API tokens: a user's own, and the one a request presents."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from dashboard.api.models import ApiToken
from dashboard.api.tokens import token_hash, token_well_formed


class TokenRefused(Exception):
    """The presented token cannot be used; the message says why (a 401)."""


def tokens_for_user(*, user: AbstractBaseUser) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user)


def token_get_for_user(*, user: AbstractBaseUser, token_id: int) -> ApiToken:
    """One of `user`'s own tokens; 404 for anybody else's (or none)."""
    try:
        return tokens_for_user(user=user).get(pk=token_id)
    except (ApiToken.DoesNotExist, ValueError, TypeError):
        raise Http404("No such token.") from None


def token_for_secret(*, secret: str) -> ApiToken:
    """The active token whose secret is `secret`, with its user; `TokenRefused`
    naming why not (malformed, unknown, revoked, expired, user inactive)."""
    if not token_well_formed(secret):
        raise TokenRefused("malformed token: expected sb_ and 43 characters")
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=token_hash(secret))
        .first()
    )
    if token is None or not token.user.is_active:
        raise TokenRefused("invalid token")
    if token.revoked_at is not None:
        raise TokenRefused("token revoked")
    if token.expires_at is not None and token.expires_at <= timezone.now():
        raise TokenRefused("token expired")
    return token
