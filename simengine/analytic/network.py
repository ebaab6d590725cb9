"""The estimate's walk over the graph: offered load from the workload's target,
callers before callees, then latency, callees before callers.

Each step dispatches on the component's ``type`` through a table (``CALLEES``,
``STATIONS`` (in ``stations.py``), ``FLOW``, ``LATENCY``): a new kind is one function per table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..document import Document
from .popularity import che_hit_ratio, popularity
from .queueing import (
    Station,
    mean_and_scv,
    mmc_wait,
    mmck,
)
from .stations import STATIONS, keys, service_stations


@dataclass
class Node:
    """One reached component: the reads and writes offered to it, its stations."""

    cid: str
    comp: Any
    reads: float = 0.0
    writes: float = 0.0
    stations: dict[str, Station] = field(default_factory=dict)
    # a database: its stations are named nodes (primary, replica-0, ...), by shard
    shards: list[list[str]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


#: Whom a component passes requests to.
CALLEES: dict[str, Callable[[Any], Iterable[str]]] = {
    "load_balancer": lambda c: c.targets,
    "service": lambda c: c.callees,
    "cache": lambda c: (c.backing,),
    "database": lambda c: (),
    "queue": lambda c: (c.consumers,),
    "cdn": lambda c: (c.origin,),
}


def call_shares(svc: Any) -> list[tuple[str, float]]:
    """(callee, probability) of each of a service's calls (a plain id: 1)."""
    return [
        (c, 1.0) if isinstance(c, str) else (c.to, c.probability) for c in svc.calls
    ]


def hop_ms(doc: Document, a: Any, b: Any) -> float:
    hop = doc.network.hop_ms
    if a.region and b.region and a.region != b.region:
        hop += doc.network.cross_region_ms
    return hop


def order(doc: Document) -> list[str]:
    """Components reachable from the workload's target, callers before callees."""
    comps = doc.components
    out = {
        cid: [c for c in CALLEES[comp.type](comp) if c in comps]
        for cid, comp in comps.items()
    }
    seen: set[str] = set()
    post: list[str] = []
    start = doc.workload.target
    if start not in comps:
        return []
    stack: list[tuple[str, Iterable[str]]] = [(start, iter(out[start]))]
    seen.add(start)
    while stack:
        node, it = stack[-1]
        nxt = next(it, None)
        if nxt is None:
            stack.pop()
            post.append(node)
        elif nxt not in seen:
            seen.add(nxt)
            stack.append((nxt, iter(out[nxt])))
    return post[::-1]


def _balancer_shares(doc: Document, lb: Any) -> dict[str, float]:
    weights: dict[str, float] = {}
    for t in dict.fromkeys(lb.targets):
        svc = doc.components.get(t)
        if svc is None or svc.type != "service":
            continue
        per_instance = 1.0
        if lb.algorithm == "weighted_round_robin":
            per_instance = (lb.weights or {}).get(t, 1.0)
        elif lb.algorithm in (
            "least_connections",
            "least_response_time",
            "power_of_two",
        ):
            per_instance = svc.cores * svc.speed
        weights[t] = svc.instances * per_instance
    total = sum(weights.values()) or 1.0
    return {t: w / total for t, w in weights.items()}


def _balancer_flow(doc: Document, node: Node, nodes: dict[str, Node]) -> None:
    shares = _balancer_shares(doc, node.comp)
    node.extra["shares"] = shares
    dispatch = _DISPATCH.get(node.comp.algorithm)
    passed = node.extra.get("accepted", 1.0)  # what its rate limit lets through
    for t, share in shares.items():
        nodes[t].reads += node.reads * share * passed
        nodes[t].writes += node.writes * share * passed
        if dispatch is not None:
            # how the instances share the load (Station.dispatch); the first
            # balancer in front of a service decides
            nodes[t].extra.setdefault("dispatch", (dispatch, node.comp.d or 3))


#: Balancing that looks at the instances' load, and the model the estimate uses
#: for it (Station.dispatch); the others split the load at random (Poisson copies).
_DISPATCH = {
    "least_connections": "pooled",
    "least_response_time": "pooled",
    "power_of_two": "jsq_2",
    "power_of_d": "jsq_d",
}


def _service_flow(doc: Document, node: Node, nodes: dict[str, Node]) -> None:
    # a station that refuses requests (M/M/c/K) passes on only the rest
    passed = 1.0 - node.stations["instance"].blocking
    for callee, p in call_shares(node.comp):
        # Jackson's visit ratios: a call made with probability p carries p of them
        nodes[callee].reads += node.reads * passed * p
        nodes[callee].writes += node.writes * passed * p


def _cache_flow(doc: Document, node: Node, nodes: dict[str, Node]) -> None:
    comp = node.comp
    count, zipf_s, _ = keys(doc)
    invalidates = comp.invalidation == "on_write" and comp.strategy in (
        "cache_aside",
        "read_through",
    )
    hit = che_hit_ratio(
        capacity_keys=comp.capacity_keys * comp.nodes,
        key_count=count,
        zipf_s=zipf_s,
        read_rps=node.reads,
        write_rps=node.writes,
        eviction=comp.eviction,
        ttl_s=comp.ttl_s,
        invalidate_on_write=invalidates,
    )
    node.extra["hit_ratio"] = hit
    backing = nodes[comp.backing]
    backing.reads += node.reads * (1 - hit)
    if comp.strategy == "write_behind":
        # Buffered writes to one key within a flush interval reach the backing
        # store once.
        p, n = popularity(count, zipf_s)
        f = comp.flush_interval_s
        flushed = float(np.sum(n * -np.expm1(-node.writes * p * f))) / f
        node.extra["flushed_writes_rps"] = flushed
        backing.writes += min(flushed, node.writes)
    else:
        backing.writes += node.writes


def _queue_flow(doc: Document, node: Node, nodes: dict[str, Node]) -> None:
    # every published message is a request to the consumer (refusals of a full
    # queue are not taken off: they depend on the consumer's response time, which
    # the latency step finds)
    consumer = nodes[node.comp.consumers]
    consumer.reads += node.reads
    consumer.writes += node.writes
    extra = consumer.extra
    extra["queue_rps"] = extra.get("queue_rps", 0.0) + node.reads + node.writes
    extra["queue_concurrency"] = (
        extra.get("queue_concurrency", 0) + node.comp.concurrency
    )


def _cdn_flow(doc: Document, node: Node, nodes: dict[str, Node]) -> None:
    """Each served region's node is an LRU cache of the reads of that region's
    clients (Che's approximation); misses, writes and the reads of unserved
    regions go to the origin."""
    comp = node.comp
    count, zipf_s, _ = keys(doc)
    shares = doc.workload.regions or {}
    hits: dict[str, float] = {}
    passed = node.reads
    for name in comp.regions:
        reads = node.reads * shares.get(name, 0.0)
        hit = che_hit_ratio(
            capacity_keys=comp.capacity_keys,
            key_count=count,
            zipf_s=zipf_s,
            read_rps=reads,
            write_rps=0.0,
            eviction="lru",
            ttl_s=comp.ttl_s,
            invalidate_on_write=False,
        )
        hits[name] = hit
        passed -= reads * hit
    node.extra["region_hit_ratio"] = hits
    node.extra["client_regions"] = dict(shares)
    origin = nodes[comp.origin]
    origin.reads += passed
    origin.writes += node.writes


FLOW: dict[str, Callable[[Document, Node, dict[str, Node]], None]] = {
    "load_balancer": _balancer_flow,
    "service": _service_flow,
    "cache": _cache_flow,
    "queue": _queue_flow,
    "cdn": _cdn_flow,
}


# --- 3. latency: ms for one read / one write arriving --------------------------------

Latency = dict[str, float]


def _balancer_latency(doc: Document, node: Node, below: dict[str, Latency]) -> Latency:
    comp = node.comp
    own = comp.overhead_ms if comp.layer == 7 else 0.0
    st = node.stations.get("instance")
    if st is not None:  # work_ms: its own queue and cores, before the overhead
        own += st.wait_ms + st.read_ms[0]
    return {
        kind: own
        + sum(
            share * (hop_ms(doc, comp, doc.components[t]) + below[t][kind])
            for t, share in node.extra["shares"].items()
        )
        for kind in ("read", "write")
    }


def _service_latency(doc: Document, node: Node, below: dict[str, Latency]) -> Latency:
    comp = node.comp
    st = node.stations["instance"]
    limit = node.extra.get("queue_concurrency")
    if (
        limit is not None
        and limit <= st.servers * st.copies
        and node.extra["queue_rps"] >= node.reads + node.writes - 1e-9
        and st.utilization < 1.0
    ):
        # fed by queues only, which keep at most their concurrency in it, spread
        # over the instances by the messages each has: a message finds a free
        # core (the waiting happens in the broker)
        st.wait_ms = 0.0
    return {
        kind: st.wait_ms
        + mean
        + sum(
            p * (hop_ms(doc, comp, doc.components[c]) + below[c][kind])
            for c, p in call_shares(comp)
        )
        for kind, (mean, _) in (("read", st.read_ms), ("write", st.write_ms))
    }


def _cache_latency(doc: Document, node: Node, below: dict[str, Latency]) -> Latency:
    comp = node.comp
    own = mean_and_scv(comp.hit_ms)[0]  # a delay: a cache node is not a queue
    hop = hop_ms(doc, comp, doc.components[comp.backing])
    backing = below[comp.backing]
    miss = 1 - node.extra["hit_ratio"]
    read = own + miss * (hop + backing["read"])
    if comp.strategy == "write_behind":
        return {"read": read, "write": own}
    return {"read": read, "write": own + hop + backing["write"]}


def _database_latency(doc: Document, node: Node, below: dict[str, Latency]) -> Latency:
    db = node.comp
    stations = node.stations
    read_total = sum(s.read_rps for s in stations.values())
    write_total = sum(s.write_rps for s in stations.values())

    def response(s: Station, mean: float) -> float:
        return s.wait_ms + mean

    shard_count = db.shards.count if db.shards else 1
    directory = (
        db.shards.directory_ms
        if db.shards is not None and db.shards.strategy == "directory"
        else 0.0
    )
    read = write = 0.0
    if read_total > 0:
        read = sum(
            s.read_rps / read_total * response(s, s.read_ms[0])
            for s in stations.values()
            if s.read_rps > 0
        )
        scatter = doc.workload.scatter_ratio if shard_count > 1 else 0.0
        if scatter > 0:
            slowest = max(
                response(s, s.read_ms[0]) for s in stations.values() if s.read_rps > 0
            )
            read = (1 - scatter) * _single_shard_read(stations, read_total, scatter) + (
                scatter * slowest
            )
    else:
        # No reads offered: the latency a read would see at the least busy reader.
        readers = [s for s in stations.values() if s.read_rps > 0] or list(
            stations.values()
        )
        read = min(response(s, s.read_ms[0]) for s in readers)
    if write_total > 0:
        write = sum(
            s.write_rps / write_total * response(s, s.write_ms[0])
            for s in stations.values()
            if s.write_rps > 0
        )
    else:
        write = min(response(s, s.write_ms[0]) for s in stations.values())
    return {"read": read + directory, "write": write + directory}


def _single_shard_read(
    stations: dict[str, Station], read_total: float, scatter: float
) -> float:
    # Weighted by each node's share of reads; the scatter part loads every shard
    # equally, so the weights differ little from the single-shard ones.
    return sum(
        s.read_rps / read_total * (s.wait_ms + s.read_ms[0])
        for s in stations.values()
        if s.read_rps > 0
    )


def _queue_latency(doc: Document, node: Node, below: dict[str, Latency]) -> Latency:
    """The producer waits for the publish only; the consumer side is solved here
    as an M/M/c queue (c = concurrency) whose service time is the consumer's mean
    response (its work, its waits and its calls), in ``node.extra["queue"]``."""
    comp = node.comp
    publish = mean_and_scv(comp.publish_ms)[0]
    node.extra["queue"] = queue_solution(doc, node, below)
    return {"read": publish, "write": publish}


def queue_solution(
    doc: Document, node: Node, below: dict[str, Latency]
) -> dict[str, Any]:
    """The consumer wait of a queue: Erlang C (unbounded) or M/M/c/K (capacity),
    or how fast it grows when the consumers do not keep up."""
    comp = node.comp
    consumer = doc.components[comp.consumers]
    rate = node.reads + node.writes  # messages per second
    share = node.reads / rate if rate > 0 else doc.workload.read_ratio
    lat = below[comp.consumers]
    response = hop_ms(doc, comp, consumer) + (
        share * lat["read"] + (1 - share) * lat["write"]
    )
    c = comp.concurrency
    out: dict[str, Any] = {
        "rate": rate,
        "response_ms": response,
        "wait_ms": None,
        "blocking": 0.0,
        "grows_rps": None,
    }
    if rate <= 0:
        out["wait_ms"] = 0.0
        return out
    if not math.isfinite(response):
        # the consumer service itself is saturated: it carries at most its cores
        # (and the broker's concurrency) at its mean work
        st = Node(comp.consumers, consumer)
        service_stations(doc, st)
        inst = st.stations["instance"]
        mean = inst.read_ms[0] * share + inst.write_ms[0] * (1 - share)
        servers = min(inst.servers * inst.copies, c)
        out["grows_rps"] = max(rate - servers * 1000.0 / mean, 0.0) if mean else None
        return out
    offered = rate * response / 1000.0  # consumers busy, on average
    if comp.capacity is not None:
        blocking, waiting = mmck(c, offered, c + comp.capacity)
        carried = rate * (1.0 - blocking) / 1000.0  # per ms
        out["blocking"] = blocking
        out["wait_ms"] = waiting / carried if carried > 0 else 0.0
    elif offered < c:
        out["wait_ms"] = mmc_wait(c, rate / 1000.0, response)
    else:
        out["grows_rps"] = rate - c * 1000.0 / response
    return out


def _cdn_latency(doc: Document, node: Node, below: dict[str, Latency]) -> Latency:
    """A hit costs hit_ms at the client's edge; a miss (and any write, and the
    requests of regions it does not serve) the delay from the client's region to
    the origin's and the origin's own latency."""
    comp = node.comp
    origin = doc.components[comp.origin]
    own = mean_and_scv(comp.hit_ms)[0]
    hits = node.extra["region_hit_ratio"]
    net = doc.network
    out = {"read": 0.0, "write": 0.0}
    for name, share in (doc.workload.regions or {}).items():
        away = net.hop_ms + (
            net.cross_region_ms if origin.region and origin.region != name else 0.0
        )
        hit = hits.get(name, 0.0)
        out["read"] += share * (
            hit * own + (1 - hit) * (away + below[comp.origin]["read"])
        )
        out["write"] += share * (away + below[comp.origin]["write"])
    return out


LATENCY: dict[str, Callable[[Document, Node, dict[str, Latency]], Latency]] = {
    "load_balancer": _balancer_latency,
    "service": _service_latency,
    "cache": _cache_latency,
    "database": _database_latency,
    "queue": _queue_latency,
    "cdn": _cdn_latency,
}


def walk(doc: Document) -> tuple[dict[str, Node], dict[str, Latency]]:
    """The reached components (callers first) and their latency per read / write."""
    wl = doc.workload
    ordered = order(doc)
    nodes = {cid: Node(cid, doc.components[cid]) for cid in ordered}
    if wl.target in nodes:
        nodes[wl.target].reads = wl.rps * wl.read_ratio
        nodes[wl.target].writes = wl.rps * (1 - wl.read_ratio)
    # The call graph is acyclic: each node has all its load before it is solved.
    for node in nodes.values():
        build = STATIONS.get(node.comp.type)
        if build is not None:
            build(doc, node)
        for st in node.stations.values():
            st.solve()
        flow = FLOW.get(node.comp.type)
        if flow is not None:
            flow(doc, node, nodes)
    latency: dict[str, Latency] = {}
    for cid in reversed(ordered):
        node = nodes[cid]
        latency[cid] = LATENCY[node.comp.type](doc, node, latency)
    return nodes, latency
