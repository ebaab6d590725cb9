"""Reads of share links. `share_link_get` is the one way from a token to a link:
the token is hashed and found by the unique hash index, and an unknown, revoked or
expired link is a 404 (which of the three is never told)."""

from __future__ import annotations

import hmac
import uuid

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from dashboard.runs.models import Run
from dashboard.scenarios.models import Scenario
from dashboard.sharing.models import ShareLink
from dashboard.sharing.services import share_link_touch
from dashboard.sharing.tokens import token_hash


def share_link_get_or_none(*, token: str, touch: bool = True) -> ShareLink | None:
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    digest = token_hash(token)
    link = (
        ShareLink.objects.select_related("scenario", "created_by")
        .filter(token_hash=digest)
        .first()
    )
    # The index found the row by its hash; compare in constant time all the same.
    if link is None or not hmac.compare_digest(link.token_hash, digest):
        return None
    if not link.is_active(now=timezone.now()):
        return None
    if touch:
        share_link_touch(link=link)
    return link


def share_link_get(*, token: str) -> ShareLink:
    """The active link with `token`, or 404. Updates `last_used_at` (at most once a
    minute)."""
    link = share_link_get_or_none(token=token)
    if link is None:
        raise Http404("No such link.")
    return link


def share_link_is_active(*, link_id: int) -> bool:
    """Whether the link is still neither revoked nor expired (an open socket asks)."""
    link = ShareLink.objects.only("revoked_at", "expires_at").filter(pk=link_id).first()
    return link is not None and link.is_active()


def share_links_for_scenario(*, scenario: Scenario) -> QuerySet[ShareLink]:
    """Every link of `scenario`, newest first, with who made it."""
    return ShareLink.objects.filter(scenario=scenario).select_related("created_by")


def share_link_of_scenario(*, scenario: Scenario, link_id: int) -> ShareLink:
    """One link of `scenario` (already authorised by the caller), or 404."""
    try:
        return ShareLink.objects.get(pk=link_id, scenario=scenario)
    except ShareLink.DoesNotExist:
        raise Http404("No such link.") from None


def shared_run_get(*, link: ShareLink, run_id: uuid.UUID | str) -> Run:
    """A run of the link's scenario, or 404 (a run of any other scenario too)."""
    try:
        return Run.objects.select_related("scenario", "version").get(
            pk=run_id, scenario_id=link.scenario_id
        )
    except (Run.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404("No such run.") from None


def shared_run_or_none(
    *, token: str, run_id: uuid.UUID | str
) -> tuple[ShareLink, Run] | None:
    """For the run socket: the active link with `token` and its scenario's run
    `run_id`, or None when either is missing or they do not belong together."""
    link = share_link_get_or_none(token=token)
    if link is None:
        return None
    try:
        return link, shared_run_get(link=link, run_id=run_id)
    except Http404:
        return None
