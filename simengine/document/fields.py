"""Field types shared by the models: strict numbers, names and durations.

A duration field (``*_ms``) accepts a plain number (a constant) or a distribution
mapping, and the parsed model always holds a :class:`Distribution`: durations are
normalised once, at parse time, so the runtime never re-interprets raw values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .vocabulary import DISTRIBUTIONS

ID_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")

# Numbers are strict: "5" and true are errors, not 5 and 1 (a typo must never be
# silently coerced). NaN and infinities are refused everywhere.
NonNegFloat = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
PosFloat = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]
Ratio = Annotated[float, Field(strict=True, ge=0, le=1, allow_inf_nan=False)]
PosInt = Annotated[int, Field(strict=True, ge=1)]
NonNegInt = Annotated[int, Field(strict=True, ge=0)]
StrictBool = Annotated[bool, Field(strict=True)]
Name = Annotated[str, Field(strict=True, min_length=1, max_length=64)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: The most samples an empirical distribution may list.
MAX_EMPIRICAL_SAMPLES = 100_000


def _field_error(field: str, message: str) -> PydanticCustomError:
    """An error on one field of a distribution (messages.convert_errors puts the
    field on the path: ``components.web.work_ms.k: an erlang needs k``)."""
    return PydanticCustomError(
        "distribution_field", "{message}", {"field": field, "message": message}
    )


def check_parameters(d: Any, *, mean_given: bool, mean_allowed: bool = True) -> None:
    """The parameters ``d.dist`` takes, and only those (a ``Distribution`` or the
    workload's ``ArrivalGaps``); raises the error of the first field that is wrong."""
    dist = d.dist
    if dist == "empirical":
        if d.samples is None:
            raise _field_error(
                "samples", "an empirical distribution needs samples (ms)"
            )
        if mean_given:
            raise _field_error(
                "mean", "an empirical distribution's mean is its samples'"
            )
        return
    if d.samples is not None:
        raise _field_error(
            "samples", f"only an empirical distribution takes samples (got {dist})"
        )
    if mean_allowed and not mean_given:
        raise _field_error("mean", "is required (milliseconds)")
    if dist == "erlang" and d.k is None:
        raise _field_error("k", "an erlang needs k, its number of phases (>= 1)")
    if dist != "erlang" and d.k is not None:
        raise _field_error("k", f"only an erlang takes k (got {dist})")
    if dist == "pareto" and d.alpha is None:
        raise _field_error("alpha", "a pareto needs alpha, its tail index (> 1)")
    if dist != "pareto" and d.alpha is not None:
        raise _field_error("alpha", f"only a pareto takes alpha (got {dist})")
    if dist == "hyperexponential" and not d.cv > 1:
        raise _field_error(
            "cv", f"a hyperexponential needs cv > 1 (got {d.cv:g}): cv 1 is exponential"
        )


class Distribution(_Model):
    """A random duration in milliseconds. ``{mean: 8}`` alone is exponential.

    ``erlang`` takes ``k`` phases (cv = 1/sqrt(k)); ``hyperexponential`` two balanced
    exponential phases with ``cv`` > 1; ``pareto`` a heavy tail of index ``alpha`` > 1
    (infinite variance up to 2); ``empirical`` resamples ``samples`` uniformly (its
    mean is theirs, so no ``mean``).
    """

    dist: Literal[DISTRIBUTIONS] = Field(  # type: ignore[valid-type]
        "exponential", description=" | ".join(DISTRIBUTIONS)
    )
    mean: NonNegFloat | None = Field(
        None, description="mean, milliseconds (every distribution but empirical)"
    )
    cv: NonNegFloat = Field(
        1.0,
        description="coefficient of variation (lognormal; hyperexponential: > 1)",
    )
    k: Annotated[int, Field(strict=True, ge=1, le=1000)] | None = Field(
        None, description="erlang: phases (>= 1)"
    )
    alpha: (
        Annotated[float, Field(strict=True, gt=1, le=100, allow_inf_nan=False)] | None
    ) = Field(None, description="pareto: tail index (> 1)")
    samples: (
        Annotated[
            list[NonNegFloat], Field(min_length=1, max_length=MAX_EMPIRICAL_SAMPLES)
        ]
        | None
    ) = Field(None, description="empirical: observed durations, ms")

    @model_validator(mode="after")
    def _parameters(self) -> Distribution:
        check_parameters(self, mean_given=self.mean is not None)
        if self.dist == "empirical":
            samples = self.samples or [0.0]
            object.__setattr__(self, "mean", math.fsum(samples) / len(samples))
        return self

    @property
    def scv(self) -> float:
        """The squared coefficient of variation (inf for a pareto with alpha <= 2)."""
        dist = self.dist
        if dist == "exponential":
            return 1.0
        if dist == "constant":
            return 0.0
        if dist == "uniform":
            return 1.0 / 3.0
        if dist in ("lognormal", "hyperexponential"):
            return self.cv * self.cv
        if dist == "erlang":
            return 1.0 / (self.k or 1)
        if dist == "pareto":
            a = self.alpha or 2.0
            return math.inf if a <= 2 else 1.0 / (a * (a - 2))
        mean = self.mean or 0.0
        if not mean:
            return 0.0
        samples = self.samples or []
        # relative to the mean first: mean * mean may underflow to 0
        return math.fsum((x / mean - 1.0) ** 2 for x in samples) / len(samples)


def as_distribution(value: float | Distribution) -> Distribution:
    """The distribution a duration stands for (a number is a constant).

    Parsed documents already hold distributions; this is idempotent on them."""
    if isinstance(value, Distribution):
        return value
    return Distribution(dist="constant", mean=float(value))


def exponential(mean: float) -> Distribution:
    """An exponential duration: the default of most work fields."""
    return Distribution(dist="exponential", mean=mean)


def _duration_tag(value: Any) -> str:
    if isinstance(value, Distribution):
        return "~distribution"
    if isinstance(value, bool):
        return "~number"  # refused by the strict float with a clear message
    if isinstance(value, (int, float)):
        return "~number"
    return "~distribution"


#: A duration field (``*_ms``): a plain number (constant) or a distribution mapping
#: in the document, always a ``Distribution`` once parsed.
Duration = Annotated[
    Annotated[NonNegFloat, Tag("~number")]
    | Annotated[Distribution, Tag("~distribution")],
    Discriminator(_duration_tag),
    AfterValidator(as_distribution),
]


class ReadWriteWork(_Model):
    """Different work for reads and writes."""

    read: Duration = Field(description="work of a read, ms")
    write: Duration = Field(description="work of a write, ms")


def _work_tag(value: Any) -> str:
    if isinstance(value, ReadWriteWork) or (
        isinstance(value, Mapping) and ("read" in value or "write" in value)
    ):
        return "~read_write"
    return _duration_tag(value)


def _as_work(value: float | Distribution | ReadWriteWork) -> Any:
    return value if isinstance(value, ReadWriteWork) else as_distribution(value)


#: A service's work: a duration, or ``{read, write}`` durations.
Work = Annotated[
    Annotated[NonNegFloat, Tag("~number")]
    | Annotated[Distribution, Tag("~distribution")]
    | Annotated[ReadWriteWork, Tag("~read_write")],
    Discriminator(_work_tag),
    AfterValidator(_as_work),
]
