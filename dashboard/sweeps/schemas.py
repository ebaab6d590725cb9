"""The HTTP API's bodies for sweeps (dashboard/api/api.py: POST /sweeps, GET
/sweeps/{id}, POST /sweeps/{id}/cancel; docs/api.md)."""

from __future__ import annotations

from typing import Any, Literal

from ninja import Field, Schema
from pydantic import ConfigDict

ID_MAX = 2**63 - 1
NUMBER_MAX = 2**31 - 1
#: Values one request may list (SWEEP_MAX_POINTS refuses more, naming it).
VALUES_MAX = 1000


class SweepIn(Schema):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    scenario: int = Field(ge=1, le=ID_MAX)
    version: int | None = Field(
        None, ge=1, le=NUMBER_MAX, description="the version to sweep (the latest)"
    )
    compare_version: int | None = Field(
        None, ge=1, le=NUMBER_MAX, description="A/B: the same values on this version"
    )
    kind: Literal["sweep", "capacity"] = "sweep"
    vary: str = Field(max_length=300, description="a field path, e.g. workload.rps")
    values: list[float] | None = Field(None, max_length=VALUES_MAX)
    start: float | None = Field(None, alias="from", allow_inf_nan=False)
    to: float | None = Field(None, allow_inf_nan=False)
    steps: int | None = Field(None, ge=1, le=NUMBER_MAX)
    low: float | None = Field(None, allow_inf_nan=False)
    high: float | None = Field(None, allow_inf_nan=False)
    resolution: float | None = Field(None, gt=0, lt=1, allow_inf_nan=False)


class SweepPointOut(Schema):
    value: float
    series: str
    version: int | None
    round: int
    status: str
    run: str | None
    met: bool | None
    figures: dict[str, Any] | None


class SweepOut(Schema):
    id: int
    scenario: int
    version: int
    compare_version: int | None
    kind: str
    vary: str
    status: str
    error: str
    values: list[float]
    low: float | None
    high: float | None
    resolution: float
    created_at: Any
    finished_at: Any
    points: list[SweepPointOut]
    result: dict[str, Any] | None
    url: str


class SweepCancelOut(Schema):
    cancelled: bool
    sweep: SweepOut
