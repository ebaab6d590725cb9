"""Writes of scenarios: create, save a version, copy an example."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max

import simengine
from dashboard.scenarios.models import Scenario, ScenarioVersion
from dashboard.teams.models import Team

BLANK_DOCUMENT = """\
scaleboard: 1
name: New scenario
simulation: {duration_s: 60, warmup_s: 5, seed: 1, snapshot_s: 1}
workload: {target: lb, rps: 200}
components:
  lb: {type: load_balancer, algorithm: round_robin, targets: [web]}
  web: {type: service, instances: 2, cores: 2, work_ms: {dist: exponential, mean: 10}}
"""


class VersionConflict(Exception):
    """The scenario was saved by someone else since the editor was opened."""

    def __init__(self, latest: ScenarioVersion) -> None:
        super().__init__(f"version {latest.number} was saved in the meantime")
        self.latest = latest


def document_validate(*, text: str) -> simengine.Document:
    """Parse and validate a topology document; raises `simengine.DocumentError`."""
    return simengine.parse_document(text)


@transaction.atomic
def scenario_version_create(
    *,
    scenario: Scenario,
    text: str,
    author: AbstractBaseUser | None,
    message: str = "",
    layout: dict | None = None,
    base_version: int | None = None,
    document: simengine.Document | None = None,
) -> ScenarioVersion:
    """Validate `text` and store it as the scenario's next version.

    `layout` is the designer's node positions (see `designer.layout_clean`).
    `base_version` is the version the editor was opened on: if another save came
    in since, `VersionConflict` is raised and nothing is written (one wins, the
    other is told). Raises `simengine.DocumentError` before anything is written.
    `document` is `text` already parsed by the caller (parse once per request).
    """
    doc = document if document is not None else document_validate(text=text)
    # Lock the scenario row so two racing saves get distinct numbers.
    locked = Scenario.objects.select_for_update().get(pk=scenario.pk)
    last = locked.versions.aggregate(n=Max("number"))["n"] or 0
    if base_version is not None and base_version != last:
        raise VersionConflict(locked.versions.get(number=last))
    version = ScenarioVersion.objects.create(
        scenario=locked,
        number=last + 1,
        document_text=text,
        message=message[:300],
        author=author,
        layout=layout or {},
    )
    if doc.name and doc.name != locked.name and not locked.is_example:
        locked.name = doc.name[:200]
    locked.description = (doc.description or locked.description or "")[:2000]
    locked.save(update_fields=["name", "description", "updated_at"])
    return version


@transaction.atomic
def scenario_create(
    *,
    owner: AbstractBaseUser,
    text: str = BLANK_DOCUMENT,
    message: str = "Created",
    team: Team | None = None,
) -> Scenario:
    """A new scenario with `text` as version 1, by `owner`: theirs, or the team's
    when `team` is given (the caller checked they may edit in it)."""
    doc = document_validate(text=text)
    scenario = Scenario.objects.create(
        owner=None if team is not None else owner,
        team=team,
        name=(doc.name or "Untitled")[:200],
    )
    scenario_version_create(scenario=scenario, text=text, author=owner, message=message)
    return scenario


@transaction.atomic
def scenario_copy_example(*, example: Scenario, owner: AbstractBaseUser) -> Scenario:
    version = example.latest_version
    scenario = Scenario.objects.create(
        owner=owner, name=example.name, description=example.description
    )
    ScenarioVersion.objects.create(
        scenario=scenario,
        number=1,
        document_text=version.document_text,
        message=f"Copied from the example '{example.slug}' v{version.number}",
        author=owner,
        layout=version.layout,
    )
    return scenario


def example_upsert(*, slug: str, text: str) -> tuple[Scenario, bool]:
    """Create or update a built-in example; returns (scenario, changed)."""
    doc = document_validate(text=text)
    with transaction.atomic():
        scenario, _created = Scenario.objects.get_or_create(
            is_example=True,
            slug=slug,
            defaults={"name": doc.name or slug, "description": doc.description or ""},
        )
        latest = scenario.latest_version
        if latest is not None and latest.document_text == text:
            return scenario, False
        scenario.name = (doc.name or slug)[:200]
        scenario.description = doc.description or ""
        scenario.save()
        ScenarioVersion.objects.create(
            scenario=scenario,
            number=(latest.number + 1) if latest else 1,
            document_text=text,
            message="Built-in example",
        )
        return scenario, True
