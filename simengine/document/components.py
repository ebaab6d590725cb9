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
    calls: tuple[Name, ...] = Field((), description="dependencies, called in order")
    stateful: StrictBool = Field(False, description="sessions live on the instance")
    autoscale: Autoscale | None = None
    discipline: Literal[DISCIPLINES] = Field(  # type: ignore[valid-type]
        "fcfs",
        description="fcfs: one queue in front of the cores; ps: processor sharing",
    )

    def instance_count(self) -> int:
        return max(self.instances, self.autoscale.max if self.autoscale else 0)


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


#: The model of each component type (keys in ``COMPONENT_TYPES`` order).
MODEL_OF_TYPE: dict[str, type[_Component]] = {
    "load_balancer": LoadBalancer,
    "service": Service,
    "cache": Cache,
    "database": Database,
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
    | Annotated[Database, Tag("~database")],
    Discriminator(
        _component_tag,
        custom_error_type="component_type",
        custom_error_message="type must be one of: " + ", ".join(COMPONENT_TYPES),
    ),
]
