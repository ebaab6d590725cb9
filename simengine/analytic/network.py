"""The estimate's walk over the graph: offered load from the workload's target,
callers before callees, then latency, callees before callers.

Each step dispatches on the component's ``type`` through a table (``CALLEES``,
``STATIONS``, ``FLOW``, ``LATENCY``): a new kind is one function per table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..document import Document, ReadWriteWork
from .popularity import che_hit_ratio, popularity, zipf_share_below
from .queueing import Station, mean_and_scv, usl_capacity


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
    "service": lambda c: c.calls,
    "cache": lambda c: (c.backing,),
    "database": lambda c: (),
}


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


def keys(doc: Document) -> tuple[int, float, bool]:
    """(key count, Zipf exponent, shuffled) of the workload's keys."""
    spec = doc.workload.keys
    if spec is None:
        return 1_000_000, 0.0, False
    return spec.count, spec.zipf_s, spec.shuffle


# --- 1. stations: a service's instances, a database's nodes ---------------------------


def _service_stations(doc: Document, node: Node) -> None:
    svc = node.comp
    work = svc.work_ms
    if isinstance(work, ReadWriteWork):
        read_ms, write_ms = mean_and_scv(work.read), mean_and_scv(work.write)
    else:
        read_ms = write_ms = mean_and_scv(work)
    factor = 1.0 / svc.speed
    if svc.scaling is not None:
        # The USL stretches the work on an instance's cores (as the engine).
        cap = usl_capacity(svc.cores, svc.scaling.contention, svc.scaling.coherency)
        factor *= svc.cores / cap
    limit = svc.queue_limit
    node.stations["instance"] = Station(
        servers=svc.cores,
        copies=svc.instances,
        capacity=svc.cores + limit if limit is not None else None,
        read_rps=node.reads,
        write_rps=node.writes,
        read_ms=(read_ms[0] * factor, read_ms[1]),
        write_ms=(write_ms[0] * factor, write_ms[1]),
        dispatch=node.extra.get("dispatch"),
        discipline=svc.discipline,
        arrival_scv=arrival_scv(doc) if fed_by_clients(doc, node) else 1.0,
    )


def fed_by_clients(doc: Document, node: Node) -> bool:
    """A service whose one station sees the clients' arrival process itself: the
    workload's target, with one instance (a split stream has other gaps)."""
    svc = node.comp
    return (
        node.cid == doc.workload.target
        and svc.type == "service"
        and svc.instances == 1
        and svc.autoscale is None
    )


def arrival_scv(doc: Document) -> float:
    """Squared cv of the clients' gaps: 1 for Poisson (and bursty: Poisson within
    its periods), 0 for constant, the gap distribution's for a renewal process."""
    arrivals = doc.workload.arrivals
    if isinstance(arrivals, str):
        return 0.0 if arrivals == "constant" else 1.0
    return arrivals.scv


def _database_stations(doc: Document, node: Node) -> None:
    """The database's nodes as stations, with their share of the load; named as
    the engine names them (primary, replica-0, shard-1, shard-1-replica-0, ...)."""
    db, reads, writes = node.comp, node.reads, node.writes
    p = db.primary
    read_ms = mean_and_scv(p.read_ms)
    write_ms = mean_and_scv(p.write_ms)
    replicas = db.replicas.count if db.replicas else 0
    to_replicas = replicas > 0 and db.replicas.reads != "primary"
    shard_count = db.shards.count if db.shards else 1
    scatter = doc.workload.scatter_ratio if shard_count > 1 else 0.0
    shares = [1.0 / shard_count] * shard_count
    if db.shards is not None and db.shards.strategy == "range" and shard_count > 1:
        count, zipf_s, shuffle = keys(doc)
        bounds = list(db.shards.ranges or [])
        if len(bounds) != shard_count - 1:
            bounds = [count * (k + 1) // shard_count for k in range(shard_count - 1)]
        edges = [0, *bounds, count]
        if shuffle or zipf_s == 0:
            cum = [e / count for e in edges]
        else:
            cum = [zipf_share_below(count, zipf_s, e) for e in edges]
        shares = [max(0.0, cum[k + 1] - cum[k]) for k in range(shard_count)]
    for k, share in enumerate(shares):
        shard_reads = reads * ((1 - scatter) * share + scatter)
        shard_writes = writes * share
        prefix = f"shard-{k}" if shard_count > 1 else ""
        names = []
        for j in range(db.primaries):
            name = prefix or "primary"
            if db.primaries > 1:
                name = f"{prefix + '-' if prefix else ''}primary-{j}"
            names.append(name)
            node.stations[name] = Station(
                servers=p.cores,
                capacity=max(p.connections, p.cores),
                read_rps=0.0 if to_replicas else shard_reads / db.primaries,
                write_rps=shard_writes / db.primaries,
                read_ms=read_ms,
                write_ms=write_ms,
            )
        for j in range(replicas):
            name = f"{prefix + '-' if prefix else ''}replica-{j}"
            names.append(name)
            node.stations[name] = Station(
                servers=p.cores,
                capacity=max(p.connections, p.cores),
                read_rps=shard_reads / replicas if to_replicas else 0.0,
                apply_rps=shard_writes,  # every replica applies its shard's writes
                read_ms=read_ms,
                write_ms=write_ms,
            )
        node.shards.append(names)


#: Kinds that queue (their stations are solved); the others are fixed delays.
STATIONS: dict[str, Callable[[Document, Node], None]] = {
    "service": _service_stations,
    "database": _database_stations,
}


# --- 2. flow: what a component passes on ---------------------------------------------


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
    for t, share in shares.items():
        nodes[t].reads += node.reads * share
        nodes[t].writes += node.writes * share
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
    for callee in node.comp.calls:
        nodes[callee].reads += node.reads * passed
        nodes[callee].writes += node.writes * passed


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


FLOW: dict[str, Callable[[Document, Node, dict[str, Node]], None]] = {
    "load_balancer": _balancer_flow,
    "service": _service_flow,
    "cache": _cache_flow,
}


# --- 3. latency: ms for one read / one write arriving --------------------------------

Latency = dict[str, float]


def _balancer_latency(doc: Document, node: Node, below: dict[str, Latency]) -> Latency:
    comp = node.comp
    own = comp.overhead_ms if comp.layer == 7 else 0.0
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
    return {
        kind: st.wait_ms
        + mean
        + sum(hop_ms(doc, comp, doc.components[c]) + below[c][kind] for c in comp.calls)
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


LATENCY: dict[str, Callable[[Document, Node, dict[str, Latency]], Latency]] = {
    "load_balancer": _balancer_latency,
    "service": _service_latency,
    "cache": _cache_latency,
    "database": _database_latency,
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
