"""The estimate's stations: what each kind of component queues on (``STATIONS``),
with the arrival variability that reaches it, and the key popularity the data tier
reads (``keys``). ``network.walk`` feeds them their offered load."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..document import Bursty, Document, ReadWriteWork
from .popularity import zipf_share_below
from .queueing import (
    Station,
    mean_and_scv,
    token_bucket_on_off_share,
    token_bucket_share,
    usl_capacity,
)

if TYPE_CHECKING:
    from .network import Node


def keys(doc: Document) -> tuple[int, float, bool]:
    """(key count, Zipf exponent, shuffled) of the workload's keys."""
    spec = doc.workload.keys
    if spec is None:
        return 1_000_000, 0.0, False
    return spec.count, spec.zipf_s, spec.shuffle


# --- 1. stations: a service's instances, a database's nodes ---------------------------


def service_stations(doc: Document, node: Node) -> None:
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


def _balancer_stations(doc: Document, node: Node) -> None:
    """A balancer's rate limit and, with ``work_ms``, its instances as stations.

    The rate limit passes on the share ``accepted``: with Poisson arrivals the
    token bucket's long-run share, 1 - P(no token) (``token_bucket_share``; exact
    for the workload's own Poisson stream, approximate behind other components,
    whose output is not Poisson); with bursty arrivals the fluid share of each
    on and off period plus the burst saved up in the quiet one
    (``token_bucket_on_off_share``); with other arrivals the fluid share
    min(1, rps / offered) (exact for constant arrivals).
    """
    lb = node.comp
    offered = node.reads + node.writes
    accepted = 1.0
    rl = lb.rate_limit
    if rl is not None and offered > 0:
        wl = doc.workload
        if wl.arrivals == "poisson":
            accepted = token_bucket_share(offered, rl.rps, rl.burst)
        elif wl.arrivals == "bursty":
            b = wl.bursty or Bursty()
            accepted = token_bucket_on_off_share(
                offered, rl.rps, rl.burst, b.on_s, b.off_s, b.factor
            )
        else:
            accepted = min(1.0, rl.rps / offered)
    node.extra["accepted"] = accepted
    if lb.work_ms is None:
        return  # a fixed delay (overhead_ms): no capacity of its own
    work = mean_and_scv(lb.work_ms)
    node.stations["instance"] = Station(
        servers=lb.cores or 1,
        copies=lb.instances,
        read_rps=node.reads * accepted,
        write_rps=node.writes * accepted,
        read_ms=work,
        write_ms=work,
    )


#: Kinds that queue (their stations are solved); the others are fixed delays.
STATIONS: dict[str, Callable[[Document, Node], None]] = {
    "service": service_stations,
    "database": _database_stations,
    "load_balancer": _balancer_stations,
}


def has_stations(comp: Any) -> bool:
    """Whether a component queues: its kind has stations (a balancer only with
    ``work_ms``)."""
    if comp.type == "load_balancer":
        return comp.work_ms is not None
    return comp.type in STATIONS


# --- 2. flow: what a component passes on ---------------------------------------------
