"""The snapshot: what one window of a run carries, from the engine to the browser.

This is the one definition every layer reads: the engine produces it
(``simengine.stream`` / ``on_snapshot``), the web side stores it as is (a JSON
column), publishes it as is (the channel layer) and ``static/js/run.js`` draws it.
A measured snapshot without its stream fields (``version``, ``seq``,
``replication``, ``warmup``, ``progress``) is a report's ``timeline`` entry.

Rules of the contract (docs/engine.md, "The snapshot"):

- every rate is per second of simulated time (``*_rps``), measured over the
  window, and the window's length is carried (``window_s``), so no reader divides
  by a guess; counts in the window (``errors``, ``timeouts``, ``rejected``) are
  kept beside the rates for format 1's timeline;
- latencies are milliseconds; a quantile of an empty window is ``None``;
- ``utilization`` is busy core-time over available core-time (0..1), or ``None``
  for a component with no capacity of its own (a balancer, a cache);
- events (``Event``, kinds in ``EVENT_KINDS``) ride on the snapshot of the window
  they happened in (``event_log``) and the report keeps them all (``event_log``);
- nothing else: no internal keys. A new field raises ``SNAPSHOT_VERSION`` when it
  changes the meaning of an old one, and is added here first.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

#: Raised when a field changes meaning; readers may refuse versions they do not know.
SNAPSHOT_VERSION = 1


class WindowLatency(TypedDict):
    p50: float | None
    p95: float | None
    p99: float | None


class WindowLag(TypedDict):
    mean: float | None
    max: float | None


class ShardWindow(TypedDict):
    share: float  # of the requests the database took in the window, 0..1
    utilization: float  # of the shard's own nodes over the window


class ComponentWindow(TypedDict):
    """One component over one window; extras by kind."""

    utilization: float | None
    throughput_rps: float
    queue_mean: NotRequired[float]
    instances: NotRequired[int]  # service: active instances at the window's end
    hit_ratio: NotRequired[float]  # cache, cdn: hits / (hits + misses) in the window
    errors_rps: NotRequired[float]  # load balancer: requests it failed, per second
    rate_limited_rps: NotRequired[float]  # balancer with rate_limit: 429s per second
    # database with replicas: the lags drawn for the window's writes, ms (None: no write)
    replication_lag_ms: NotRequired[WindowLag]
    # queue: messages waiting and the oldest one's age (ms), at the window's end
    depth: NotRequired[int]
    lag_ms: NotRequired[float]
    shards: NotRequired[list[ShardWindow]]  # sharded database: one entry per shard


class Window(TypedDict):
    """One window of simulated time, as the report's timeline keeps it."""

    t_s: float  # simulated time at the window's end
    window_s: float  # the window's length, simulated seconds
    rps: float  # completed requests per second (format 1's name)
    offered_rps: float
    errors_rps: float
    timeouts_rps: float
    rejected_rps: float
    errors: int  # counts in the window (format 1's timeline)
    timeouts: int
    rejected: int
    latency_ms: WindowLatency
    components: dict[str, ComponentWindow]
    # only when a balancer has a rate_limit: 429s per second (part of rejected_rps)
    rate_limited_rps: NotRequired[float]
    # only with workload.retry: re-sends, requests given up, attempts (first sends
    # and re-sends: the load offered to the servers) in the window
    retries: NotRequired[int]
    retries_rps: NotRequired[float]
    attempts_rps: NotRequired[float]
    gave_up: NotRequired[int]


class Event(TypedDict):
    """Something that happened to the system at one instant of simulated time.

    ``kind`` is one of ``EVENT_KINDS``; ``text`` says it in a sentence for the event
    log. Extras by kind: ``instance`` (an instance's name), ``instances`` (how many
    are active after it), ``rps`` (the new arrival rate), ``writes_lost``,
    ``promoted``, ``shards``, ``keys_moved`` (a fraction of the keys), ``to`` (a
    breaker's callee).
    """

    t_s: float  # simulated time since the start (the warm-up included)
    replication: int
    kind: str
    component: str | None  # None for the workload
    text: str
    instance: NotRequired[str]
    instances: NotRequired[int]
    rps: NotRequired[float]
    users: NotRequired[int]  # phase_changed of a closed workload (workload.users)
    writes_lost: NotRequired[int]
    promoted: NotRequired[str]
    shards: NotRequired[int]
    keys_moved: NotRequired[float]
    injection: NotRequired[dict]  # injected: the injection itself (simengine.whatif)
    factor: NotRequired[float]  # spike_ended
    objective: NotRequired[str]  # objective_*: e.g. "latency_ms.p99"
    value: NotRequired[float]  # objective_breached: the window's value
    limit: NotRequired[float]  # objective_*: the objective's bound
    to: NotRequired[str]  # breaker_*: the callee of the call the breaker guards


#: What can happen, and what each kind means (the event log's vocabulary).
EVENT_KINDS = {
    "instance_down": "an instance stopped (a fault of the document or injected)",
    "instance_up": "an instance came back",
    "health_removed": "a balancer's health check took an instance out of rotation",
    "health_restored": "a balancer's health check put an instance back",
    "autoscaled": "an autoscaling service changed its number of active instances",
    "primary_down": "a database primary stopped",
    "primary_up": "a database primary came back",
    "failover_started": "a replica is being promoted; writes fail until it is done",
    "failover_done": "the promoted replica is the primary now",
    "replica_down": "a database replica stopped",
    "replica_up": "a database replica came back (caught up)",
    "shard_added": "shards were added and keys moved to them",
    "cache_node_lost": "a cache node was lost with its keys",
    "cache_node_restored": "a cache node came back, empty",
    "phase_changed": "the workload moved to its next phase",
    "injected": "a what-if injection landed (a fault, a restore or a traffic spike)",
    "spike_ended": "an injected traffic spike ended",
    "objective_breached": "a window broke one of the document's objectives",
    "objective_recovered": "the objective held again for several windows in a row",
    "breaker_opened": "a circuit breaker on a service's call opened (or re-opened "
    "after a failed trial): calls to ``to`` fail fast for its open_s",
    "breaker_closed": "a circuit breaker's half-open trial call succeeded: calls go "
    "through again",
}


class Snapshot(Window):
    """A window as streamed while a run goes."""

    version: int  # SNAPSHOT_VERSION
    seq: int  # 0, 1, 2, ... over the whole run, all replications in turn
    replication: int
    warmup: bool  # True: inside the warm-up, not part of the report
    progress: float  # 0..1 of the whole run
    # What happened during the window, oldest first; present only when something
    # did. A stream field: the report keeps the whole list as ``event_log``.
    event_log: NotRequired[list[Event]]


#: Why a kind's ``utilization`` is None: the report's ``utilization_note``, and what a
#: reader shows for an older report that carried 0.0 for these kinds.
UTILIZATION_NOTES = {
    "load_balancer": (
        "no capacity of its own in this model: a balancer adds overhead_ms (layer 7) "
        "to each request and never queues"
    ),
    "cache": (
        "no capacity of its own in this model: a hit takes hit_ms and never queues; "
        "see hit_ratio for how much work it takes off its backing store"
    ),
    "queue": (
        "no capacity of its own in this model: the broker acknowledges a publish "
        "after publish_ms; see depth and consumer_lag_ms for whether its consumers "
        "keep up"
    ),
    "cdn": (
        "no capacity of its own in this model: a hit takes hit_ms at the client's "
        "edge and never queues; see hit_ratio and saved_ms per region"
    ),
}

#: The keys a snapshot carries, in order (tests check the engine against this).
SNAPSHOT_KEYS = (
    "version",
    "seq",
    "replication",
    "warmup",
    "progress",
    "t_s",
    "window_s",
    "rps",
    "offered_rps",
    "errors_rps",
    "timeouts_rps",
    "rejected_rps",
    "errors",
    "timeouts",
    "rejected",
    "latency_ms",
    "components",
)
