"""Writes that manage a scenario as a whole: create it with a name, rename it, delete
it, move it to a team.

Callers pass what `scenario_get_for_user` returned for the permission the action
needs (`dashboard.access`: EDIT to rename, MANAGE to delete or move) and, for a team,
what `teams_where_user_may(perm=Perm.EDIT)` allows; these functions keep the rules
that hold whoever calls them.

The name rule: a scenario's name is its document's `name:`. Every saved version
copies the document's name onto the scenario (`services.scenario_version_create`), so
a rename is a new version whose document carries the new name: the next save starts
from that text and keeps it, a save from an editor opened before the rename is a
conflict (it was based on an older version), and the history says who renamed it.
"""

from __future__ import annotations

import json
import re

import yaml
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

import simengine
from dashboard.scenarios import designer, services
from dashboard.scenarios.models import Scenario, ScenarioVersion
from dashboard.teams.models import Team

SCENARIO_NAME_MAX = 200
# The document's top-level `name:` line (YAML block style, as the designer writes it).
_NAME_LINE = re.compile(r"^name:[^\n]*$", re.MULTILINE)


class ScenarioError(ValueError):
    """A scenario action that cannot be done; the message says why, for the page."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def name_clean(name: str) -> str:
    """The name as stored (inner runs of spaces collapsed); a blank or too long name
    is a `ScenarioError` on the field "name"."""
    name = " ".join((name or "").split())
    if not name:
        raise ScenarioError("Give the scenario a name.", field="name")
    if len(name) > SCENARIO_NAME_MAX:
        raise ScenarioError(
            f"A scenario name has at most {SCENARIO_NAME_MAX} characters.",
            field="name",
        )
    return name


def _yaml_scalar(value: str) -> str:
    """`value` as one line of YAML flow scalar (quoted when it needs to be)."""
    dumped = yaml.safe_dump(value, allow_unicode=True, width=10_000).strip()
    if dumped.endswith("\n..."):  # a plain scalar document end marker
        dumped = dumped[: -len("\n...")]
    return dumped


def document_with_name(text: str, name: str) -> str:
    """`text` with its top-level `name:` set to `name`, changing as little as it can:
    one line of a YAML document, or the key of a JSON one; a document in another
    shape is written out again by the designer. Raises `simengine.DocumentError`
    when `text` is not a readable document."""
    tree = dict(simengine.load_document_tree(text))
    stripped = text.lstrip()
    if stripped.startswith("{"):
        tree["name"] = name
        return json.dumps(tree, indent=2, ensure_ascii=False) + "\n"
    line = f"name: {_yaml_scalar(name)}"
    matches = _NAME_LINE.findall(text)
    if len(matches) == 1:
        return _NAME_LINE.sub(lambda _m: line, text, count=1)
    if not matches and "name" not in tree:
        first, sep, rest = text.partition("\n")
        if first.startswith("scaleboard:"):
            return f"{first}\n{line}\n{rest}" if sep else f"{first}\n{line}\n"
    tree["name"] = name
    return designer.tree_to_text(tree)


def scenario_create_named(
    *, creator: AbstractBaseUser, name: str, team: Team | None = None
) -> Scenario:
    """A new scenario called `name` from the blank document: `creator`'s own, or
    `team`'s (the caller checked `creator` may edit in it)."""
    name = name_clean(name)
    text = document_with_name(services.BLANK_DOCUMENT, name)
    return services.scenario_create(owner=creator, text=text, team=team)


@transaction.atomic
def scenario_rename(
    *, scenario: Scenario, name: str, author: AbstractBaseUser
) -> ScenarioVersion | None:
    """Rename: a new version, by `author`, whose document's `name:` is `name`.
    Returns None (and writes nothing) when the name is already `name`."""
    name = name_clean(name)
    locked = Scenario.objects.select_for_update().get(pk=scenario.pk)
    latest = locked.latest_version
    if latest is None:
        raise ScenarioError("The scenario has no version to rename.", field="name")
    if locked.name == name:
        return None
    try:
        text = document_with_name(latest.document_text, name)
        version = services.scenario_version_create(
            scenario=locked,
            text=text,
            author=author,
            message=f"Renamed to “{name}”"[:300],
            layout=latest.layout,
            base_version=latest.number,
        )
    except simengine.DocumentError as exc:
        # The latest version is invalid (saved before a rule tightened, say): the
        # rename cannot be stored as a valid version of it.
        raise ScenarioError(
            f"The latest version is not a valid document ({exc}); fix and save it "
            "first.",
            field="name",
        ) from None
    scenario.name = name
    return version


def scenario_delete(*, scenario: Scenario) -> None:
    """Delete the scenario and its versions. Its runs stay, without it, visible to
    whoever started them (the run's scenario and version become empty)."""
    if scenario.is_example:
        raise ScenarioError("A built-in example cannot be deleted.")
    scenario.delete()


@transaction.atomic
def scenario_move_to_team(*, scenario: Scenario, team: Team) -> Scenario:
    """Make a personal scenario the team's, in one step: versions, runs and name come
    along; from now on the team's roles decide who may do what with it."""
    locked = Scenario.objects.select_for_update().get(pk=scenario.pk)
    if locked.is_example or locked.team_id is not None:
        raise ScenarioError(
            "Only a personal scenario can be moved to a team.", field="team"
        )
    locked.owner = None
    locked.team = team
    locked.save(update_fields=["owner", "team", "updated_at"])
    return locked
