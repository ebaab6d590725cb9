"""The component models, one per kind in ``COMPONENT_TYPES``.

Each model knows how many instances it may run (``instance_count``), for the
``Limits.max_instances`` check; ``Component`` is the union the document's
``components`` mapping holds, told apart by ``type``.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from .fields import (
    Duration,
    Name,
    NonNegFloat,
    NonNegInt,
    PosFloat,
    PosInt,
    Ratio,
    StrictBool,
    Work,
    _Model,
    exponential,
)
from .vocabulary import (
    CACHE_STRATEGIES,
    COMPONENT_TYPES,
    DISCIPLINES,
    EVICTIONS,
    INVALIDATIONS,
    LB_ALGORITHMS,
    LB_LAYERS,
    QUEUE_FULL_POLICIES,
    READ_ROUTING,
    REPLICA_MODES,
    SHARD_STRATEGIES,
)


class _Component(_Model):
    region: Name | None = Field(None, description="region (cross-region latency)")
    cost_per_hour: NonNegFloat | None = Field(
        None, description="price per instance or node per hour"
    )

    @abstractmethod
    def instance_count(self) -> int:
        """The most instances (or nodes) this component may run at once."""


# --- load balancer ---------------------------------------------------------------------


class HealthCheck(_Model):
    interval_s: PosFloat = Field(2.0, description="seconds between probes")
    timeout_ms: PosFloat = Field(500.0, description="a probe fails after this, ms")
    unhealthy_after: PosInt = Field(2, description="failed probes to mark unhealthy")
    healthy_after: PosInt = Field(2, description="passed probes to mark healthy")


class RateLimit(_Model):
    """A token bucket shared by the balancer's instances: ``burst`` tokens, refilled
    at ``rps`` per second, full at the start; a request finding no token gets 429."""

    rps: PosFloat = Field(description="tokens added per second (the sustained rate)")
    burst: PosInt = Field(description="bucket capacity, tokens (>= 1)")


class LoadBalancer(_Component):
    type: Literal["load_balancer"]
    algorithm: Literal[LB_ALGORITHMS] = "round_robin"  # type: ignore[valid-type]
    layer: Literal[LB_LAYERS] = Field(  # type: ignore[valid-type]
        7, description="4 or 7; layer 7 adds overhead_ms"
    )
    overhead_ms: NonNegFloat = Field(0.2, description="layer-7 cost per request, ms")
    targets: tuple[Name, ...] = Field(min_length=1, description="services behind it")
    weights: dict[Name, PosFloat] | None = Field(
        None, description="weighted_round_robin weight per target service"
    )
    health_check: HealthCheck | None = None
    retries: Annotated[int, Field(strict=True, ge=0, le=10)] = Field(
        0, description="retries elsewhere after a dead instance"
    )
    instances: PosInt = Field(1, description="balancer instances")
    d: Annotated[int, Field(strict=True, ge=2, le=64)] | None = Field(
        None, description="power_of_d: instances sampled per request (default 3)"
    )
    rate_limit: RateLimit | None = Field(
        None, description="token bucket over all its instances; 429 when empty"
    )
    work_ms: Duration | None = Field(
        None,
        description="CPU work per request on a balancer instance, ms (a FCFS "
        "queue, on top of overhead_ms)",
    )
    cores: PosInt | None = Field(
        None, description="cores per balancer instance, with work_ms (default 1)"
    )

    def instance_count(self) -> int:
        return self.instances


# --- service ---------------------------------------------------------------------------


class Scaling(_Model):
    contention: Ratio = Field(0.0, description="USL alpha (serialisation)")
    coherency: Ratio = Field(0.0, description="USL beta (crosstalk)")


class Autoscale(_Model):
    min: PosInt = 1
    max: PosInt = 10
    target_utilization: Annotated[
        float, Field(strict=True, gt=0, le=1, allow_inf_nan=False)
    ] = 0.7
    check_s: PosFloat = 10.0
    boot_s: NonNegFloat = 30.0
    cooldown_s: NonNegFloat = 60.0


class Breaker(_Model):
    """A circuit breaker on one call: opens when the share of failed calls over the
    last ``window_s`` seconds passes ``error_rate`` (after ``min_calls`` calls)."""

    error_rate: Annotated[
        float, Field(strict=True, gt=0, le=1, allow_inf_nan=False)
    ] = Field(0.5, description="share of failed calls in the window that opens it")
    window_s: PosFloat = Field(10.0, description="sliding window of calls, seconds")
    open_s: PosFloat = Field(30.0, description="seconds open before one trial call")
    min_calls: PosInt = Field(
        20, description="calls in the window before the share can open it"
    )


class Call(_Model):
    """A call in its mapping form: ``{to: search, probability: 0.3, breaker: ...}``."""

    to: Name = Field(description="the component called")
    probability: Annotated[
        float, Field(strict=True, gt=0, le=1, allow_inf_nan=False)
    ] = Field(1.0, description="share of requests that make the call, (0, 1]")
    breaker: Breaker | None = Field(None, description="circuit breaker on the call")


def _call_tag(value: Any) -> str:
    return "~call" if isinstance(value, (Mapping, Call)) else "~name"


#: One entry of a service's ``calls``: a component's id, or a :class:`Call`.
CallEntry = Annotated[
    Annotated[Name, Tag("~name")] | Annotated[Call, Tag("~call")],
    Discriminator(_call_tag),
]


def call_target(entry: Any) -> Any:
    """The id an entry of ``calls`` names (a raw tree's or a parsed model's; None
    when it names none)."""
    if isinstance(entry, str):
        return entry
    if isinstance(entry, Call):
        return entry.to
    if isinstance(entry, Mapping):
        return entry.get("to")
    return None


class Service(_Component):
    type: Literal["service"]
    instances: PosInt = Field(1, description="horizontal scaling")
    cores: PosInt = Field(1, description="cores per instance")
    speed: PosFloat = Field(1.0, description="per-core speed factor")
    scaling: Scaling | None = Field(None, description="Universal Scalability Law")
    work_ms: Work = Field(
        default_factory=lambda: exponential(10.0),
        description="CPU work per request, ms (or {read, write})",
    )
    queue_limit: NonNegInt | None = Field(
        None, description="waiting requests per instance beyond which one is rejected"
    )
    calls: tuple[CallEntry, ...] = Field(
        (),
        description="dependencies, called in order: ids, or {to, probability, breaker}",
    )
    stateful: StrictBool = Field(False, description="sessions live on the instance")
    autoscale: Autoscale | None = None
    discipline: Literal[DISCIPLINES] = Field(  # type: ignore[valid-type]
        "fcfs",
        description="fcfs: one queue in front of the cores; ps: processor sharing",
    )

    def instance_count(self) -> int:
        return max(self.instances, self.autoscale.max if self.autoscale else 0)

    @property
    def callees(self) -> tuple[str, ...]:
        """The ids of ``calls``, in order, whatever their form."""
        return tuple(c if isinstance(c, str) else c.to for c in self.calls)


# --- cache -----------------------------------------------------------------------------


class Cache(_Component):
    type: Literal["cache"]
    strategy: Literal[CACHE_STRATEGIES] = Field(  # type: ignore[valid-type]
        "cache_aside", description="how reads and writes use the cache"
    )
    capacity_keys: PosInt = Field(100_000, description="keys the cache holds")
    eviction: Literal[EVICTIONS] = Field(  # type: ignore[valid-type]
        "lru", description="which key leaves when full"
    )
    ttl_s: PosFloat | None = Field(
        None, description="seconds from write to expiry (default: no expiry)"
    )
    invalidation: Literal[INVALIDATIONS] = Field(  # type: ignore[valid-type]
        "on_write", description="a write invalidates the key, or only TTL does"
    )
    hit_ms: Duration = Field(
        0.3, validate_default=True, description="time of a hit, ms"
    )
    backing: Name = Field(description="database, service or balancer behind it")
    coalesce_misses: StrictBool = Field(
        False, description="concurrent misses on one key make one backing read"
    )
    nodes: PosInt = Field(1, description="nodes, keys spread by consistent hashing")
    flush_interval_s: PosFloat = Field(
        1.0, description="write_behind: seconds between flushes"
    )

    def instance_count(self) -> int:
        return self.nodes


# --- database --------------------------------------------------------------------------


class Primary(_Model):
    cores: PosInt = Field(8, description="cores of the primary")
    read_ms: Duration = Field(
        default_factory=lambda: exponential(2.0), description="work of a read, ms"
    )
    write_ms: Duration = Field(
        default_factory=lambda: exponential(8.0), description="work of a write, ms"
    )
    connections: PosInt = Field(
        100, description="queries in the database at once; more are refused"
    )


class Replicas(_Model):
    count: NonNegInt = Field(0, description="read replicas")
    mode: Literal[REPLICA_MODES] = Field(  # type: ignore[valid-type]
        "async", description="what a write waits for"
    )
    lag_ms: Duration = Field(
        default_factory=lambda: exponential(40.0), description="replication lag, ms"
    )
    reads: Literal[READ_ROUTING] = Field(  # type: ignore[valid-type]
        "replicas", description="where reads go"
    )


class Rebalance(_Model):
    at_s: NonNegFloat
    add: PosInt = 1


class Shards(_Model):
    count: PosInt = Field(1, description="shards, each a primary (+ replicas)")
    strategy: Literal[SHARD_STRATEGIES] = Field(  # type: ignore[valid-type]
        "hash", description="how keys map to shards"
    )
    ranges: tuple[NonNegInt, ...] | None = Field(
        None, description="range: upper key bounds (default: equal splits)"
    )
    directory_ms: NonNegFloat = Field(1.0, description="directory: lookup cost, ms")
    rebalance: Rebalance | None = Field(None, description="add shards mid-run")


class Failover(_Model):
    detect_s: NonNegFloat = 10.0
    promote_s: NonNegFloat = 15.0


class Database(_Component):
    type: Literal["database"]
    primary: Primary = Field(default_factory=Primary)
    replicas: Replicas | None = None
    primaries: PosInt = Field(1, description="> 1: multi-primary")
    sync_ms: NonNegFloat = Field(30.0, description="multi-primary: conflict window, ms")
    shards: Shards | None = None
    failover: Failover | None = None

    def instance_count(self) -> int:
        shards = self.shards.count if self.shards else 1
        replicas = self.replicas.count if self.replicas else 0
        return shards * (self.primaries + replicas)


# --- queue (a message broker) ----------------------------------------------------------


class Queue(_Component):
    """A broker between services: producers publish and get their answer after
    ``publish_ms``; ``concurrency`` messages at a time go to ``consumers``."""

    type: Literal["queue"]
    consumers: Name = Field(description="service that processes the messages")
    concurrency: PosInt = Field(
        1, description="messages processed at once across the consumer's instances"
    )
    capacity: PosInt | None = Field(
        None, description="messages waiting at most (default: unbounded)"
    )
    when_full: Literal[QUEUE_FULL_POLICIES] = Field(  # type: ignore[valid-type]
        "reject", description="a full queue refuses the publish or drops the oldest"
    )
    publish_ms: Duration = Field(
        1.0, validate_default=True, description="time to acknowledge a publish, ms"
    )

    def instance_count(self) -> int:
        return 1


# --- cdn (an edge cache per client region) --------------------------------------------


class Cdn(_Component):
    """An edge cache with one node per client region it serves: a hit answers
    after ``hit_ms`` in the client's region, a miss goes to ``origin``."""

    type: Literal["cdn"]
    regions: tuple[Name, ...] = Field(
        min_length=1, description="the workload's client regions it serves"
    )
    capacity_keys: PosInt = Field(100_000, description="keys each region's node holds")
    ttl_s: PosFloat | None = Field(
        None, description="seconds a cached key stays (default: no expiry)"
    )
    hit_ms: Duration = Field(
        2.0, validate_default=True, description="time of a hit at the edge, ms"
    )
    origin: Name = Field(description="what a miss goes to")

    def instance_count(self) -> int:
        return len(self.regions)


#: The model of each component type (keys in ``COMPONENT_TYPES`` order).
MODEL_OF_TYPE: dict[str, type[_Component]] = {
    "load_balancer": LoadBalancer,
    "service": Service,
    "cache": Cache,
    "database": Database,
    "queue": Queue,
    "cdn": Cdn,
}


def _component_tag(value: Any) -> str | None:
    kind = (
        value.get("type")
        if isinstance(value, Mapping)
        else getattr(value, "type", None)
    )
    if isinstance(kind, str) and kind in COMPONENT_TYPES:
        return "~" + kind
    return None


Component = Annotated[
    Annotated[LoadBalancer, Tag("~load_balancer")]
    | Annotated[Service, Tag("~service")]
    | Annotated[Cache, Tag("~cache")]
    | Annotated[Database, Tag("~database")]
    | Annotated[Queue, Tag("~queue")]
    | Annotated[Cdn, Tag("~cdn")],
    Discriminator(
        _component_tag,
        custom_error_type="component_type",
        custom_error_message="type must be one of: " + ", ".join(COMPONENT_TYPES),
    ),
]
