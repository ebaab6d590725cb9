"""Writes on a scenario's history: restore an old version, fork into a new scenario.

Versions are immutable: restoring one stores its text and layout again as the next
version ("Restored from v3"), and a fork is a new scenario whose version 1 is the
forked text ("Forked from NAME v3"). Who may do either is the caller's check (restore:
EDIT on the scenario; fork: VIEW on the source and EDIT where the fork goes).
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from dashboard.scenarios.models import Scenario, ScenarioVersion
from dashboard.scenarios.services import document_validate, scenario_version_create
from dashboard.teams.models import Team

FORK_SUFFIX = " (fork)"


def scenario_version_restore(
    *, scenario: Scenario, version: ScenarioVersion, author: AbstractBaseUser
) -> ScenarioVersion:
    """Store `version`'s text and layout as `scenario`'s next version.

    Raises `simengine.DocumentError` (nothing written) when the old text no longer
    validates (a version saved under an older format).
    """
    return scenario_version_create(
        scenario=scenario,
        text=version.document_text,
        author=author,
        message=f"Restored from v{version.number}",
        layout=version.layout,
    )


@transaction.atomic
def scenario_fork(
    *,
    source: Scenario,
    number: int,
    text: str,
    layout: dict | None,
    author: AbstractBaseUser,
    team: Team | None = None,
    message: str = "",
) -> Scenario:
    """A new scenario, `author`'s own or `team`'s, whose version 1 is `text`.

    `number` is the source version the text comes from (the forked version, or the
    version a conflicting editor was last based on); `message` is added to the
    version's "Forked from NAME vN" (a conflicting save's message is kept). The text
    is validated first: raises `simengine.DocumentError` with nothing written.
    """
    doc = document_validate(text=text)
    base = source.name[: 200 - len(FORK_SUFFIX)]
    scenario = Scenario.objects.create(
        owner=None if team is not None else author,
        team=team,
        name=base + FORK_SUFFIX,
        description=(doc.description or source.description or "")[:2000],
    )
    note = f"Forked from {source.name} v{number}"
    if message:
        note = f"{note}: {message}"
    ScenarioVersion.objects.create(
        scenario=scenario,
        number=1,
        document_text=text,
        message=note[:300],
        author=author,
        layout=layout or {},
    )
    return scenario
