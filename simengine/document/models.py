"""The document's models (format 1) outside the components: simulation, workload,
network, faults, objectives, and the ``Document`` itself with its JSON Schema."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ..limits import Limits
from .components import Component
from .fields import (
    ID_RE,
    MAX_EMPIRICAL_SAMPLES,
    Distribution,
    Duration,
    Name,
    NonNegFloat,
    NonNegInt,
    PosFloat,
    PosInt,
    Ratio,
    StrictBool,
    _Model,
    check_parameters,
)
from .vocabulary import ARRIVALS, DISTRIBUTIONS

FORMAT_VERSION = 1


class Precision(_Model):
    """Replications until a metric's 95% interval is narrow enough (see topology.md,
    "precision"): ``replications`` is then the least number run."""

    metric: Annotated[str, Field(strict=True, max_length=200)] = Field(
        "latency_ms.p99",
        description="a report metric with an interval: latency_ms.mean|p50|p90|p95|"
        "p99|max, throughput_rps or components.<id>.utilization",
    )
    within: Annotated[float, Field(strict=True, gt=0, le=1, allow_inf_nan=False)] = (
        Field(description="the interval's half-width at most this share of the mean")
    )
    max_replications: PosInt = Field(
        20, description="replications at most, whether or not the precision is reached"
    )


class Simulation(_Model):
    duration_s: PosFloat = Field(60.0, description="measured simulated time, seconds")
    warmup_s: NonNegFloat = Field(
        0.0, description="simulated seconds before measuring starts"
    )
    seed: Annotated[int, Field(strict=True, ge=0, lt=2**63)] = Field(
        0, description="same document + same seed = identical report"
    )
    replications: PosInt = Field(1, description="independent runs; > 1 adds ci95")
    snapshot_s: PosFloat = Field(1.0, description="simulated seconds per snapshot")
    precision: Precision | None = Field(
        None,
        description="add replications until a metric's 95% interval is this narrow",
    )
    waiting: StrictBool = Field(
        False,
        description="report each station's waiting (probability, wait percentiles)",
    )

    @property
    def planned_replications(self) -> int:
        """The most replications the run may take (budgets are per replication)."""
        if self.precision is None:
            return self.replications
        return max(self.precision.max_replications, self.min_replications)

    @property
    def min_replications(self) -> int:
        """Replications run before the precision is judged (an interval needs 2)."""
        return max(self.replications, 2) if self.precision else self.replications


class Phase(_Model):
    at_s: NonNegFloat = Field(description="simulated time the rate changes, seconds")
    rps: NonNegFloat | None = Field(
        None, description="mean arrival rate from at_s on (an open workload)"
    )
    users: NonNegInt | None = Field(
        None, description="users from at_s on (a closed workload: workload.users)"
    )


class Bursty(_Model):
    on_s: PosFloat = Field(5.0, description="length of a burst, seconds")
    off_s: PosFloat = Field(15.0, description="time between bursts, seconds")
    factor: Annotated[float, Field(strict=True, ge=1, allow_inf_nan=False)] = Field(
        3.0, description="rate during a burst, as a multiple of rps"
    )


class Users(_Model):
    """A closed workload: ``count`` users, each sending a request, waiting for its
    outcome, thinking ``think_ms`` and sending the next."""

    count: PosInt = Field(description="users, each one request outstanding at most")
    think_ms: Duration = Field(
        description="think time between an outcome and the user's next request, ms"
    )


class Keys(_Model):
    count: PosInt = Field(1_000_000, description="distinct keys")
    zipf_s: Annotated[float, Field(strict=True, ge=0, le=10, allow_inf_nan=False)] = (
        Field(0.0, description="Zipf exponent; 0 is uniform")
    )
    shuffle: StrictBool = Field(False, description="spread popularity over key numbers")


class Retry(_Model):
    """Clients that re-send a request after a timeout or an error (5xx, 503): at
    most ``max`` times, the k-th re-send after ``backoff_ms x factor^(k-1)`` (with
    ``jitter``, a uniform draw in [0, that wait]: "full jitter")."""

    max: Annotated[int, Field(strict=True, ge=0, le=20)] = Field(
        3, description="re-sends at most per request (0 .. 20)"
    )
    backoff_ms: Annotated[
        float, Field(strict=True, ge=0, le=3_600_000, allow_inf_nan=False)
    ] = Field(100.0, description="wait before the first re-send, ms (0: at once)")
    factor: Annotated[float, Field(strict=True, ge=1, le=100, allow_inf_nan=False)] = (
        Field(2.0, description="each further re-send waits this many times longer")
    )
    jitter: StrictBool = Field(
        True, description="wait a uniform draw in [0, the wait] (full jitter)"
    )
    budget: Ratio | None = Field(
        None,
        description="re-sends at most this share of first sends (a token bucket "
        "over all clients, at most 10 saved up); default: no budget",
    )


class ArrivalGaps(_Model):
    """Arrivals as a renewal process: the gaps between them drawn from a distribution
    whose mean is 1/rps (phases and spikes change it); ``{dist: erlang, k: 4}`` is
    more regular than Poisson, ``{dist: hyperexponential, cv: 3}`` burstier."""

    dist: Literal[DISTRIBUTIONS] = Field(  # type: ignore[valid-type]
        "exponential", description=" | ".join(DISTRIBUTIONS)
    )
    cv: NonNegFloat = Field(
        1.0, description="coefficient of variation (lognormal; hyperexponential: > 1)"
    )
    k: Annotated[int, Field(strict=True, ge=1, le=1000)] | None = Field(
        None, description="erlang: phases (>= 1)"
    )
    alpha: (
        Annotated[float, Field(strict=True, gt=1, le=100, allow_inf_nan=False)] | None
    ) = Field(None, description="pareto: tail index (> 1)")
    samples: (
        Annotated[
            list[NonNegFloat],
            Field(min_length=1, max_length=MAX_EMPIRICAL_SAMPLES),
        ]
        | None
    ) = Field(None, description="empirical: observed gaps (any unit: scaled to 1/rps)")

    @model_validator(mode="after")
    def _parameters(self) -> ArrivalGaps:
        check_parameters(self, mean_given=False, mean_allowed=False)
        if self.samples is not None and not math.fsum(self.samples) > 0:
            raise PydanticCustomError(
                "distribution_field",
                "{message}",
                {"field": "samples", "message": "gaps must not all be 0"},
            )
        return self

    def distribution(self, mean_ms: float) -> Distribution:
        """The gap distribution at a mean gap of ``mean_ms``."""
        if self.dist == "empirical":
            samples = self.samples or [1.0]
            factor = mean_ms * len(samples) / math.fsum(samples)
            return Distribution(dist="empirical", samples=[x * factor for x in samples])
        return Distribution(
            dist=self.dist, mean=mean_ms, cv=self.cv, k=self.k, alpha=self.alpha
        )

    @property
    def scv(self) -> float:
        return self.distribution(1.0).scv


def _arrivals_tag(value: Any) -> str:
    return "~renewal" if isinstance(value, (Mapping, ArrivalGaps)) else "~name"


#: ``workload.arrivals``: a name, or a renewal process's gap distribution.
Arrivals = Annotated[
    Annotated[Literal[ARRIVALS], Tag("~name")]  # type: ignore[valid-type]
    | Annotated[ArrivalGaps, Tag("~renewal")],
    Discriminator(_arrivals_tag),
]


class Workload(_Model):
    target: Name = Field(description="component the clients call")
    rps: NonNegFloat | None = Field(
        None,
        description="mean arrival rate, requests per second (exactly one of rps "
        "and users)",
    )
    users: Users | None = Field(
        None,
        description="a closed workload instead of rps: users who wait, think and "
        "send again",
    )
    arrivals: Arrivals = Field(
        "poisson",
        description="poisson | constant | bursty, or a renewal process: "
        "{dist: erlang, k: 4} (gaps of mean 1/rps)",
    )
    bursty: Bursty | None = Field(None, description="on/off parameters (bursty)")
    phases: tuple[Phase, ...] = Field((), description="rate changes over time")
    read_ratio: Ratio = Field(0.9, description="share of requests that are reads")
    keys: Keys | None = Field(None, description="key popularity (default uniform)")
    clients: PosInt = Field(10_000, description="distinct clients")
    regions: dict[Name, Annotated[float, Field(strict=True, gt=0, le=1)]] | None = (
        Field(None, description="share of clients per region")
    )
    timeout_ms: PosFloat | None = Field(
        None, description="a client gives up after this (default: never)"
    )
    scatter_ratio: Ratio = Field(
        0.0, description="share of reads that need every shard (part 2)"
    )
    retry: Retry | None = Field(
        None, description="clients re-send after a timeout or an error (default: no)"
    )

    @model_validator(mode="wrap")
    @classmethod
    def _rps_or_users(cls, data: Any, handler: Any) -> Any:
        """``rps`` is required unless ``users`` is given (a closed workload); the
        error is pydantic's own "missing", on ``rps``, beside any others."""
        missing = (
            isinstance(data, Mapping) and "rps" not in data and "users" not in data
        )
        if not missing:
            return handler(data)
        lost = {"type": "missing", "loc": ("rps",), "input": data}
        try:
            handler(data)
        except ValidationError as exc:
            others = [
                {
                    "type": PydanticCustomError(e["type"], e["msg"], e.get("ctx")),
                    "loc": e["loc"],
                    "input": e["input"],
                }
                for e in exc.errors(include_url=False)
            ]
            raise ValidationError.from_exception_data(
                cls.__name__, [lost, *others]
            ) from None
        raise ValidationError.from_exception_data(cls.__name__, [lost])

    @property
    def closed(self) -> bool:
        """A closed workload (``users``): no arrival rate of its own."""
        return self.users is not None


class Network(_Model):
    hop_ms: NonNegFloat = Field(0.0, description="latency added to every call, ms")
    cross_region_ms: NonNegFloat = Field(
        70.0, description="added to a call between two regions, ms"
    )


class Fault(_Model):
    at_s: NonNegFloat = Field(description="simulated time the fault starts, seconds")
    component: Name
    instance: NonNegInt | None = Field(
        None, description="instance index (service or balancer); omitted: all"
    )
    node: Annotated[str, Field(strict=True, max_length=64)] | NonNegInt | None = Field(
        None, description="database: primary | replica-N | shard-N; cache: node index"
    )
    for_s: PosFloat | None = Field(None, description="omitted: never recovers")


class LatencyObjectives(_Model):
    """Upper bounds on the end-to-end latency of completed requests, ms."""

    mean: PosFloat | None = Field(None, description="mean at most this, ms")
    p50: PosFloat | None = Field(None, description="median at most this, ms")
    p90: PosFloat | None = Field(None, description="90th percentile at most this, ms")
    p95: PosFloat | None = Field(None, description="95th percentile at most this, ms")
    p99: PosFloat | None = Field(None, description="99th percentile at most this, ms")
    max: PosFloat | None = Field(None, description="slowest request at most this, ms")


class Objectives(_Model):
    """What "good enough" means for this design. The report says which hold, and
    ``python -m simengine run`` exits with status 3 when one does not."""

    latency_ms: LatencyObjectives | None = Field(
        None, description="upper bounds on end-to-end latency, ms"
    )
    error_rate: Ratio | None = Field(
        None,
        description="at most this share of offered requests fails "
        "(errors + timeouts + rejected)",
    )
    throughput_rps: NonNegFloat | None = Field(
        None, description="at least this many completed requests per second"
    )
    utilization: Ratio | None = Field(
        None, description="every component at most this busy (0..1)"
    )


class Document(_Model):
    """A validated topology document (format 1)."""

    scaleboard: Literal[1] = Field(description="format version")
    name: Annotated[str, Field(strict=True, max_length=200)] = ""
    description: Annotated[str, Field(strict=True, max_length=5000)] = ""
    simulation: Simulation = Field(default_factory=Simulation)
    workload: Workload
    network: Network = Field(default_factory=Network)
    components: dict[str, Component] = Field(min_length=1)
    faults: tuple[Fault, ...] = ()
    objectives: Objectives | None = Field(
        None, description="optional service-level objectives the run is judged by"
    )
    # The limits it was parsed with when not the defaults: runs enforce the same
    # event budget (``Limits.max_events``) unless given other limits.
    _limits: Limits | None = PrivateAttr(default=None)

    @property
    def limits(self) -> Limits:
        """The limits this document was checked against."""
        return self._limits or Limits()


def document_schema() -> dict:
    """The JSON Schema of format 1."""
    schema = Document.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Scaleboard topology document, format 1"
    schema["properties"]["components"]["propertyNames"] = {"pattern": ID_RE.pattern}
    return schema
