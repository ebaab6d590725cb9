"""The API's request and response bodies (pydantic, through django-ninja): one
definition each, read by the endpoints and written into the OpenAPI schema."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ninja import Field, Schema
from pydantic import ConfigDict

from dashboard.runs.whatif_services import MAX_PACE

MAX_NAME = 200
MAX_MESSAGE = 300
SEED_MAX = 2**63 - 1
#: The largest row id (bigint) and version number (integer) the database holds:
#: a larger one is a 400 naming the field, not a database error.
ID_MAX = 2**63 - 1
NUMBER_MAX = 2**31 - 1


class _In(Schema):
    # An unknown field is a typo to be told about, not something to drop silently.
    model_config = ConfigDict(extra="forbid")


class ScenarioIn(_In):
    document: str = Field(description="the topology document, YAML or JSON text")
    name: str | None = Field(
        None,
        max_length=MAX_NAME,
        description="written into the document's `name:` (default: the document's)",
    )
    team: int | None = Field(
        None,
        ge=1,
        le=ID_MAX,
        description="a team id where you are an editor or an owner",
    )


class VersionIn(_In):
    document: str = Field(description="the topology document, YAML or JSON text")
    message: str = Field("", max_length=MAX_MESSAGE)
    base_version: int | None = Field(
        None,
        ge=1,
        le=NUMBER_MAX,
        description="the version this edit started from: 409 if another came since",
    )


class RunIn(_In):
    scenario: int = Field(ge=1, le=ID_MAX)
    version: int | None = Field(
        None, ge=1, le=NUMBER_MAX, description="run this stored version as it is"
    )
    document: str | None = Field(
        None,
        description="or run this text: saved first as a new version, as the "
        "editor's Run saves it (unless it is the latest version's text)",
    )
    message: str = Field("Saved to run via the API", max_length=MAX_MESSAGE)
    base_version: int | None = Field(None, ge=1, le=NUMBER_MAX)
    seed: int | None = Field(None, ge=0, le=SEED_MAX)
    pace: float | None = Field(
        None,
        gt=0,
        le=MAX_PACE,
        description="simulated seconds per wall second (default: as fast as it goes)",
    )


class FieldErrorOut(Schema):
    path: str
    message: str


class ErrorOut(Schema):
    detail: str
    errors: list[FieldErrorOut] | None = None
    latest_version: int | None = None


class TeamRef(Schema):
    id: int
    name: str


class ScenarioOut(Schema):
    id: int
    name: str
    description: str
    owner: str | None
    team: TeamRef | None
    is_example: bool
    latest_version: int | None
    permissions: list[str]
    created_at: datetime
    updated_at: datetime
    url: str


class Page(Schema):
    count: int
    limit: int
    offset: int


class ScenarioPage(Page):
    items: list[ScenarioOut]


class VersionOut(Schema):
    number: int
    message: str
    author: str | None
    created_at: datetime
    url: str


class VersionPage(Page):
    items: list[VersionOut]


class VersionDetailOut(VersionOut):
    scenario: int
    document: str
    summary: dict[str, Any] | None = Field(
        description="the parsed document: name, components, workload, simulation, "
        "objectives (null when it no longer parses)"
    )
    errors: list[FieldErrorOut] = Field(
        description="why it no longer parses (empty when it does)"
    )


class ObjectivesCount(Schema):
    met: int
    total: int


class VerdictOut(Schema):
    label: str = Field(
        description='as the run page says it: "succeeded · objectives 2 of 3 met"'
    )
    level: str = Field(description="ok, warn, bad or muted")
    objectives_met: bool | None = Field(
        description="true when every objective held; null without objectives"
    )
    objectives: ObjectivesCount | None
    checks: list[dict[str, Any]] = Field(
        description="the report's checks: objective, bound, limit, value, met"
    )
    error_rate: float | None = Field(
        description="(errors + timeouts + rejected) / offered requests"
    )
    degraded: bool = Field(description="more failed than RUN_DEGRADED_ERROR_RATE")
    partial: str = Field(description="what a cancelled run's partial report measured")
    throughput_rps: float | None
    latency_ms: dict[str, float | None]


class RunOut(Schema):
    id: uuid.UUID
    name: str
    status: str
    progress: float
    error: str
    scenario: int | None
    version: int | None
    seed: int
    pace: float | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    verdict: VerdictOut | None
    url: str
    report_url: str | None


class CancelOut(Schema):
    cancelled: bool
    run: RunOut


class SnapshotPage(Schema):
    run: uuid.UUID
    status: str
    after: int
    next_after: int
    more: bool
    items: list[dict[str, Any]]
