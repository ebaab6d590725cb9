"""Writes of share links: create (the token is returned once, never stored) and
revoke (pages 404 and open shared sockets close at once)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from dashboard.runs.publish import share_revoked
from dashboard.scenarios.models import Scenario
from dashboard.sharing.models import ShareLink
from dashboard.sharing.tokens import HINT_CHARS, token_hash, token_new


def share_link_create(
    *,
    scenario: Scenario,
    created_by: AbstractBaseUser,
    label: str = "",
    expires_at: datetime | None = None,
) -> tuple[ShareLink, str]:
    """A new link to `scenario` and its token. The caller shows the token once: it
    is not kept anywhere (only its hash), so it can never be shown again."""
    token = token_new()
    link = ShareLink.objects.create(
        scenario=scenario,
        created_by=created_by,
        label=label.strip(),
        expires_at=expires_at,
        token_hash=token_hash(token),
        hint=token[:HINT_CHARS],
    )
    return link, token


def share_link_revoke(*, link: ShareLink) -> ShareLink:
    """Revoke `link` (once: a second revoke keeps the first time). Its pages 404
    from now on; its open run sockets are told to close when this commits."""
    now = timezone.now()
    ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(revoked_at=now)
    link.refresh_from_db(fields=["revoked_at"])
    transaction.on_commit(lambda: share_revoked(link.pk))
    return link


def share_link_touch(*, link: ShareLink, every_s: int = 60) -> None:
    """Record a visit in `last_used_at`, at most once every `every_s` seconds (one
    conditional UPDATE; concurrent visits write once)."""
    now = timezone.now()
    last = link.last_used_at
    if last is not None and (now - last).total_seconds() < every_s:
        return
    stale = now - timedelta(seconds=every_s)
    ShareLink.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale), pk=link.pk
    ).update(last_used_at=now)
    link.last_used_at = now
