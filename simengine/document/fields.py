"""Field types shared by the models: strict numbers, names and durations.

A duration field (``*_ms``) accepts a plain number (a constant) or a distribution
mapping, and the parsed model always holds a :class:`Distribution`: durations are
normalised once, at parse time, so the runtime never re-interprets raw values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag

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


class Distribution(_Model):
    """A random duration in milliseconds. ``{mean: 8}`` alone is exponential."""

    dist: Literal[DISTRIBUTIONS] = Field(  # type: ignore[valid-type]
        "exponential", description=" | ".join(DISTRIBUTIONS)
    )
    mean: NonNegFloat = Field(description="mean, milliseconds")
    cv: NonNegFloat = Field(
        1.0, description="coefficient of variation (lognormal only)"
    )


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
