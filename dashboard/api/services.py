"""Writes of API tokens (create: the token is returned once, never stored; revoke;
touch) and the API's writes composed of the apps' services (a scenario with a name,
a run of a version or of a posted document)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q
from django.utils import timezone

from dashboard.api.models import ApiToken
from dashboard.api.tokens import SHOWN_CHARS, token_hash, token_new
from dashboard.runs.models import Run
from dashboard.runs.services import run_start, run_start_version
from dashboard.scenarios import lifecycle
from dashboard.scenarios.models import Scenario, ScenarioVersion
from dashboard.scenarios.services import scenario_create
from dashboard.teams.models import Team

#: `last_used_at` is written at most this often per token.
TOUCH_EVERY_S = 60


def token_create(
    *, user: AbstractBaseUser, name: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """A new token of `user` and its secret. The caller shows the secret once: only
    its hash is kept, so it can never be shown again."""
    secret = token_new()
    token = ApiToken.objects.create(
        user=user,
        name=name.strip()[:100],
        token_hash=token_hash(secret),
        prefix=secret[:SHOWN_CHARS],
        expires_at=expires_at,
    )
    return token, secret


def token_revoke(*, token: ApiToken) -> ApiToken:
    """Revoke `token` (once: a second revoke keeps the first time); it is refused
    from the next request on."""
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    token.refresh_from_db(fields=["revoked_at"])
    return token


def token_touch(*, token: ApiToken, every_s: int = TOUCH_EVERY_S) -> None:
    """Record a use in `last_used_at`, at most once every `every_s` seconds (one
    conditional UPDATE; concurrent requests write once)."""
    now = timezone.now()
    last = token.last_used_at
    if last is not None and (now - last).total_seconds() < every_s:
        return
    stale = now - timedelta(seconds=every_s)
    ApiToken.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale), pk=token.pk
    ).update(last_used_at=now)
    token.last_used_at = now


def api_scenario_create(
    *,
    owner: AbstractBaseUser,
    document: str,
    name: str | None = None,
    team: Team | None = None,
) -> Scenario:
    """A scenario with `document` as version 1 ("Created via the API"). A scenario's
    name is its document's `name:` (scenarios.lifecycle): a given `name` is written
    into the document first. Raises `simengine.DocumentError` or
    `lifecycle.ScenarioError` (a bad name) with nothing written."""
    if name is not None:
        document = lifecycle.document_with_name(document, lifecycle.name_clean(name))
    return scenario_create(
        owner=owner, text=document, team=team, message="Created via the API"
    )


def api_run_start(
    *,
    owner: AbstractBaseUser,
    scenario: Scenario,
    version: ScenarioVersion | None = None,
    document: str | None = None,
    message: str = "Saved to run via the API",
    base_version: int | None = None,
    seed: int | None = None,
    pace: float | None = None,
) -> Run:
    """A run of a stored `version` as it is, or of `document`, saved first as the
    editor's Run saves it (a new version unless it is the latest's text). Raises
    `simengine.DocumentError`, `RunLimitExceeded` or `VersionConflict` with
    nothing written."""
    if version is not None:
        return run_start_version(owner=owner, version=version, pace=pace, seed=seed)
    assert document is not None
    return run_start(
        owner=owner,
        scenario=scenario,
        text=document,
        message=message,
        base_version=base_version,
        pace=pace,
        seed=seed,
    )
