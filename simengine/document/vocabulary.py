"""The document's vocabularies, each defined once.

The models build their ``Literal`` types from these tuples, so the JSON Schema's enums
are these tuples; the runtime's registries, the inspector and the designer read them
from here too (through ``simengine``'s package face). Adding a balancing algorithm or a
cache strategy starts with one entry here.
"""

from __future__ import annotations

#: Component kinds, the ``type`` of a component.
COMPONENT_TYPES = ("load_balancer", "service", "cache", "database", "queue", "cdn")

#: Duration distributions (``dist`` of a duration mapping).
DISTRIBUTIONS = (
    "exponential",
    "constant",
    "lognormal",
    "uniform",
    "erlang",
    "hyperexponential",
    "pareto",
    "empirical",
)

#: Arrival processes of the workload.
ARRIVALS = ("poisson", "constant", "bursty")

#: Load-balancing algorithms.
LB_ALGORITHMS = (
    "round_robin",
    "weighted_round_robin",
    "least_connections",
    "ip_hash",
    "least_response_time",
    "random",
    "power_of_two",
    "power_of_d",
)

#: How a service instance shares its cores: one FCFS queue, or processor sharing.
DISCIPLINES = ("fcfs", "ps")

#: OSI layers a balancer works at (layer 7 adds ``overhead_ms``).
LB_LAYERS = (4, 7)

#: How reads and writes use a cache.
CACHE_STRATEGIES = ("cache_aside", "read_through", "write_through", "write_behind")

#: Which key leaves a full cache.
EVICTIONS = ("lru", "lfu", "fifo", "random")

#: What invalidates a cached key.
INVALIDATIONS = ("on_write", "ttl_only")

#: What a database write waits for from its replicas.
REPLICA_MODES = ("async", "semi_sync", "sync")

#: Where a replicated database's reads go.
READ_ROUTING = ("replicas", "primary", "read_your_writes")

#: How keys map to shards.
SHARD_STRATEGIES = ("range", "hash", "consistent_hash", "geo", "directory")

#: The nodes a database fault can name: ``primary``, ``replica-N``, ``shard-N``.
DATABASE_FAULT_NODES = ("primary", "replica", "shard")

#: What a full queue does with a new message: refuse it, or discard the oldest.
QUEUE_FULL_POLICIES = ("reject", "drop_oldest")

#: Every vocabulary by name (what the designer receives as JSON).
VOCABULARY: dict[str, tuple] = {
    "component_types": COMPONENT_TYPES,
    "distributions": DISTRIBUTIONS,
    "arrivals": ARRIVALS,
    "lb_algorithms": LB_ALGORITHMS,
    "lb_layers": LB_LAYERS,
    "disciplines": DISCIPLINES,
    "cache_strategies": CACHE_STRATEGIES,
    "evictions": EVICTIONS,
    "invalidations": INVALIDATIONS,
    "replica_modes": REPLICA_MODES,
    "read_routing": READ_ROUTING,
    "shard_strategies": SHARD_STRATEGIES,
    "database_fault_nodes": DATABASE_FAULT_NODES,
    "queue_full_policies": QUEUE_FULL_POLICIES,
}
