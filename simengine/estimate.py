"""The instant estimate: queueing theory on a parsed document, no simulation.

``estimate(doc)`` answers in a few milliseconds what a run measures in minutes, under
stated assumptions (listed in the result's ``assumptions``):

* Offered load flows from ``workload.target`` through the graph: a balancer splits its
  requests over its targets' instances (round robin, random and ip_hash evenly per
  instance; weighted_round_robin by ``weights`` per instance; the load-aware
  algorithms in proportion to capacity, cores x speed); a service does its CPU work and
  then calls every dependency in ``calls`` once, as a read or a write as the request
  is; a cache sends its misses (and, by strategy, its writes) to ``backing``; a
  database sends writes to its primaries and reads to its replicas (or primaries),
  split over shards by strategy (range sharding of a skewed workload is uneven).
* A cache's hit ratio is Che's approximation for LRU (FIFO and random use the
  exponential-free variant, LFU keeps the most popular keys), over the workload's Zipf
  key popularity, reduced by TTL expiry and by invalidation on writes.
* Every station (a service instance's cores, a database node's cores, a cache node) is
  an M/G/c queue: Erlang C for the wait, corrected for the service-time variability
  (Allen-Cunneen), with Poisson arrivals everywhere. A balancer is a fixed delay.
* Utilization = offered load x mean work / (servers x speed), with the Universal
  Scalability Law lowering a service's effective capacity when ``scaling`` is given.

The result is a plain JSON-serialisable dict. A run gives the measured truth.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from . import pricing
from .document import (
    Cache,
    Database,
    Distribution,
    Document,
    LoadBalancer,
    ReadWriteWork,
    Service,
    as_distribution,
)
from .objectives import format_value, objective_specs

LABEL = "Estimate — a run gives the measured truth"

#: Utilization above which a component is shown amber, and red.
WARN_UTILIZATION = 0.7
HOT_UTILIZATION = 0.9

ASSUMPTIONS = (
    "Every station is an M/G/c queue with Poisson arrivals (Erlang C with the "
    "Allen-Cunneen correction for the service-time variability); bursty and constant "
    "arrivals, autoscaling, faults and timeouts are not modelled.",
    "A balancer is a fixed delay (overhead_ms at layer 7) and a cache a fixed delay "
    "(hit_ms), not queues (as in the engine).",
    "A service calls each of its dependencies once per request; a call to another "
    "service is a nested request of the same kind (read or write).",
    "Cache hit ratios use Che's approximation over the workload's key popularity "
    "(every cache sees the client key distribution), with TTL and write "
    "invalidation folded in per key.",
    "Database nodes (primary, replicas, shards) have the primary's cores and work; "
    "replicas also apply every write of their primary (its write work); "
    "read_your_writes reads go to replicas.",
    "Scaling (USL) stretches the work on each instance's cores, as in the engine.",
    "A service's queue_limit and a database's connections make M/M/c/K stations: "
    "refused requests are not carried further.",
    "Latencies are means; a scatter read waits for the slowest shard's mean.",
)


# --- queueing formulas ---------------------------------------------------------------


def erlang_c(servers: int, offered: float) -> float:
    """Probability that an arrival waits in an M/M/c queue.

    ``offered`` is the load in servers, a = lambda / mu; needs a < c.
    Uses the Erlang B recurrence (stable for thousands of servers).
    """
    if servers < 1:
        raise ValueError("servers must be >= 1")
    if offered <= 0:
        return 0.0
    if offered >= servers:
        return 1.0
    b = 1.0
    for k in range(1, servers + 1):
        b = offered * b / (k + offered * b)
    rho = offered / servers
    return b / (1.0 - rho * (1.0 - b))


def mmc_wait(servers: int, arrival_rate: float, mean_service: float) -> float:
    """Mean time waiting in the queue of an M/M/c station (same unit as the service
    time); ``math.inf`` when the station is saturated."""
    if arrival_rate <= 0:
        return 0.0
    offered = arrival_rate * mean_service
    if offered >= servers:
        return math.inf
    c = erlang_c(servers, offered)
    return c * mean_service / (servers - offered)


def mmck(servers: int, offered: float, capacity: int) -> tuple[float, float]:
    """M/M/c/K: (blocking probability, mean queue length) with ``capacity`` = K, the
    most requests in the station (in service and waiting); ``offered`` = lambda / mu.
    Terms are rescaled as they grow, so large c and K do not overflow."""
    capacity = max(capacity, servers)
    if offered <= 0:
        return 0.0, 0.0
    rho = offered / servers
    term = 1.0
    total = 1.0
    queue_weight = 0.0  # sum of (n - c) * term over n > c
    last = 1.0
    for n in range(1, capacity + 1):
        term *= offered / n if n <= servers else rho
        total += term
        if n > servers:
            queue_weight += (n - servers) * term
        if total > 1e250:
            term /= 1e250
            total /= 1e250
            queue_weight /= 1e250
        last = term
    return last / total, queue_weight / total


def usl_capacity(n: int, contention: float, coherency: float) -> float:
    """Relative capacity of n servers under the Universal Scalability Law."""
    return n / (1.0 + contention * (n - 1) + coherency * n * (n - 1))


# --- key popularity -----------------------------------------------------------------

_EXACT_KEYS = 2000
_TAIL_BINS = 800


_HEAD = 10_000


@lru_cache(maxsize=64)
def _harmonic_head(s: float) -> np.ndarray:
    """Cumulative sums of k^-s for k = 1 .. _HEAD (index m - 1 holds H(m))."""
    return np.cumsum(np.arange(1, _HEAD + 1, dtype=float) ** -s)


def _harmonic_array(m: np.ndarray, s: float) -> np.ndarray:
    """H(m, s) = sum_{k=1}^{m} k^-s for each m: exact up to _HEAD, then the
    midpoint integral (accurate to ~1e-9 relative there)."""
    m = np.asarray(m, dtype=np.int64)
    head = _harmonic_head(s)
    out = np.where(m > 0, head[np.clip(np.minimum(m, _HEAD) - 1, 0, None)], 0.0)
    tail = m > _HEAD
    if np.any(tail):
        a, b = _HEAD + 0.5, m[tail] + 0.5
        if abs(s - 1.0) < 1e-12:
            extra = np.log(b / a)
        else:
            extra = (b ** (1 - s) - a ** (1 - s)) / (1 - s)
        out = out.astype(float)
        out[tail] += extra
    return out


def _harmonic(m: int, s: float) -> float:
    return float(_harmonic_array(np.array([m]), s)[0])


@lru_cache(maxsize=64)
def _popularity(count: int, zipf_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Key popularity as bins: (probability of one key in the bin, keys in the bin).

    The most popular keys are exact; the tail is binned on a log scale.
    """
    if zipf_s == 0:
        return np.array([1.0 / count]), np.array([float(count)])
    head = min(count, _EXACT_KEYS)
    ranks = np.arange(1, head + 1, dtype=float)
    weights = [ranks**-zipf_s]
    counts = [np.ones(head)]
    if count > head:
        edges = np.unique(
            np.geomspace(head + 1, count + 1, _TAIL_BINS + 1).astype(np.int64)
        )
        lo, hi = edges[:-1], edges[1:]  # keys lo .. hi-1
        mass = _harmonic_array(hi - 1, zipf_s) - _harmonic_array(lo - 1, zipf_s)
        n = (hi - lo).astype(float)
        weights.append(mass / n)
        counts.append(n)
    w = np.concatenate(weights)
    n = np.concatenate(counts)
    w /= float(np.sum(w * n))
    return w, n


@lru_cache(maxsize=1024)
def _zipf_share_below(count: int, zipf_s: float, bound: int) -> float:
    """Share of requests for keys 0 .. bound-1 (keys ordered by popularity)."""
    bound = max(0, min(bound, count))
    if zipf_s == 0:
        return bound / count
    return _harmonic(bound, zipf_s) / _harmonic(count, zipf_s)


@lru_cache(maxsize=256)
def _characteristic_time(capacity: int, count: int, zipf_s: float, lru: bool) -> float:
    """Che's characteristic time t in units of one request in all: the root of
    sum_k n_k occ(p_k t) = capacity, by Newton's method on log t (the occupancy is
    increasing and concave in log t's range of interest), kept inside a bracket."""
    p, n = _popularity(count, zipf_s)

    def f(u: float) -> tuple[float, float]:
        t = math.exp(u)
        x = p * t
        if lru:
            e = np.exp(-x)
            return float(np.sum(n * (1.0 - e))) - capacity, float(np.sum(n * x * e))
        return float(np.sum(n * x / (1.0 + x))) - capacity, float(
            np.sum(n * x / (1.0 + x) ** 2)
        )

    lo, hi = -60.0, 60.0
    u = math.log(capacity)  # t = capacity when every key is equally popular
    for _ in range(100):
        value, slope = f(u)
        if abs(value) < 1e-9 * capacity:
            break
        if value < 0:
            lo = u
        else:
            hi = u
        step = u - value / slope if slope > 0 else (lo + hi) / 2
        u = step if lo < step < hi else (lo + hi) / 2
    return math.exp(u)


def che_hit_ratio(
    *,
    capacity_keys: int,
    key_count: int,
    zipf_s: float,
    read_rps: float,
    write_rps: float = 0.0,
    eviction: str = "lru",
    ttl_s: float | None = None,
    invalidate_on_write: bool = False,
) -> float:
    """Hit ratio of reads at a cache (Che's approximation and its variants).

    LRU: a key is in the cache if it was requested within the characteristic time T,
    found from sum_k (1 - exp(-lambda_k T)) = capacity. FIFO and random use
    lambda_k T / (1 + lambda_k T); LFU holds the ``capacity`` most popular keys. A TTL
    (not extended by hits) caps a key's hit probability at lambda_k ttl / (1 +
    lambda_k ttl); invalidation on writes leaves lambda_k / (lambda_k + w_k) of it.
    """
    p, n = _popularity(key_count, zipf_s)
    rate = read_rps + (0.0 if invalidate_on_write else write_rps)
    if rate <= 0:
        return 0.0
    lam = rate * p  # requests per second for one key in each bin
    if capacity_keys >= key_count:
        h = np.ones_like(p)
    elif eviction == "lfu":
        cum = np.cumsum(n)
        h = np.clip((capacity_keys - (cum - n)) / n, 0.0, 1.0)
    else:
        lru = eviction == "lru"
        x = p * _characteristic_time(capacity_keys, key_count, zipf_s, lru)
        h = -np.expm1(-x) if lru else x / (1.0 + x)
    if ttl_s is not None:
        y = lam * ttl_s
        h = np.minimum(h, y / (1.0 + y))
    if invalidate_on_write and write_rps > 0:
        r = read_rps * p
        h = h * r / (r + write_rps * p)
    return float(np.sum(p * n * h))


# --- the estimate -------------------------------------------------------------------


def _mean_and_scv(value: Any) -> tuple[float, float]:
    """Mean (ms) and squared coefficient of variation of a duration field."""
    d: Distribution = as_distribution(value)
    if d.dist == "exponential":
        scv = 1.0
    elif d.dist == "constant":
        scv = 0.0
    elif d.dist == "uniform":
        scv = 1.0 / 3.0
    else:  # lognormal
        scv = d.cv**2
    return d.mean, scv


@dataclass
class _Station:
    """c servers fed by reads and writes; times in ms, rates per second."""

    servers: int
    read_rps: float = 0.0
    write_rps: float = 0.0
    # Writes a replica applies for its primary: work that occupies its cores (and
    # delays its reads) but that no client request waits for.
    apply_rps: float = 0.0
    read_ms: tuple[float, float] = (0.0, 1.0)  # mean, scv
    write_ms: tuple[float, float] = (0.0, 1.0)
    copies: int = 1  # identical stations sharing the load (instances)
    capacity: int | None = None  # K of M/M/c/K: most requests in one copy at once
    wait_ms: float = 0.0
    utilization: float = 0.0  # carried: busy core-time over available core-time
    offered_utilization: float = 0.0  # before refusals; > 1 when overloaded
    blocking: float = 0.0  # share of arrivals refused (M/M/c/K)

    def solve(self) -> None:
        total = self.read_rps + self.write_rps + self.apply_rps
        lam = total / self.copies
        if lam <= 0:
            self.wait_ms = 0.0
            self.utilization = self.offered_utilization = 0.0
            return
        pr = self.read_rps / total
        (mr, vr), (mw, vw) = self.read_ms, self.write_ms
        mean = pr * mr + (1 - pr) * mw
        second = pr * (vr + 1) * mr * mr + (1 - pr) * (vw + 1) * mw * mw
        self.utilization = lam * mean / 1000.0 / self.servers
        self.offered_utilization = self.utilization
        if mean <= 1e-9:  # no work to speak of (and no overflow in its square)
            self.wait_ms = 0.0
            return
        scv = second / (mean * mean) - 1.0
        if self.capacity is not None:
            # A full station refuses arrivals: M/M/c/K, carried load only.
            offered = lam * mean / 1000.0
            self.blocking, queue = mmck(self.servers, offered, self.capacity)
            carried = lam * (1.0 - self.blocking)
            self.utilization = carried * mean / 1000.0 / self.servers
            per_ms = carried / 1000.0  # zero for a vanishing rate (underflow)
            wq = queue / per_ms if per_ms > 0 else 0.0
        else:
            wq = mmc_wait(self.servers, lam / 1000.0, mean)  # rate per ms
        self.wait_ms = wq * (1.0 + scv) / 2.0  # Allen-Cunneen, Poisson arrivals


@dataclass
class _Node:
    cid: str
    comp: Any
    reads: float = 0.0
    writes: float = 0.0
    stations: dict[str, _Station] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def _hop_ms(doc: Document, a: Any, b: Any) -> float:
    hop = doc.network.hop_ms
    if a.region and b.region and a.region != b.region:
        hop += doc.network.cross_region_ms
    return hop


def _order(doc: Document) -> list[str]:
    """Components reachable from the workload's target, callers before callees."""
    comps = doc.components
    out: dict[str, list[str]] = {}
    for cid, comp in comps.items():
        if isinstance(comp, LoadBalancer):
            out[cid] = [t for t in comp.targets if t in comps]
        elif isinstance(comp, Service):
            out[cid] = [c for c in comp.calls if c in comps]
        elif isinstance(comp, Cache):
            out[cid] = [comp.backing] if comp.backing in comps else []
        else:
            out[cid] = []
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


def _balancer_shares(doc: Document, lb: LoadBalancer) -> dict[str, float]:
    weights: dict[str, float] = {}
    for t in dict.fromkeys(lb.targets):
        svc = doc.components.get(t)
        if not isinstance(svc, Service):
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


def _service_work(svc: Service) -> tuple[tuple[float, float], tuple[float, float]]:
    work = svc.work_ms
    if isinstance(work, ReadWriteWork):
        return _mean_and_scv(work.read), _mean_and_scv(work.write)
    m = _mean_and_scv(work)
    return m, m


def _keys(doc: Document) -> tuple[int, float, bool]:
    keys = doc.workload.keys
    if keys is None:
        return 1_000_000, 0.0, False
    return keys.count, keys.zipf_s, keys.shuffle


def _database_layout(
    doc: Document, db: Database, reads: float, writes: float
) -> dict[str, _Station]:
    """The database's nodes as stations, with their share of the load."""
    p = db.primary
    read_ms = _mean_and_scv(p.read_ms)
    write_ms = _mean_and_scv(p.write_ms)
    replicas = db.replicas.count if db.replicas else 0
    to_replicas = replicas > 0 and db.replicas.reads != "primary"
    shard_count = db.shards.count if db.shards else 1
    scatter = doc.workload.scatter_ratio if shard_count > 1 else 0.0
    shares = [1.0 / shard_count] * shard_count
    if db.shards is not None and db.shards.strategy == "range" and shard_count > 1:
        count, zipf_s, shuffle = _keys(doc)
        bounds = list(db.shards.ranges or [])
        if len(bounds) != shard_count - 1:
            bounds = [count * (k + 1) // shard_count for k in range(shard_count - 1)]
        edges = [0, *bounds, count]
        if shuffle or zipf_s == 0:
            cum = [e / count for e in edges]
        else:
            cum = [_zipf_share_below(count, zipf_s, e) for e in edges]
        shares = [max(0.0, cum[k + 1] - cum[k]) for k in range(shard_count)]
    stations: dict[str, _Station] = {}
    for k, share in enumerate(shares):
        shard_reads = reads * ((1 - scatter) * share + scatter)
        shard_writes = writes * share
        prefix = f"shard-{k}" if shard_count > 1 else ""
        for j in range(db.primaries):
            name = prefix or "primary"
            if db.primaries > 1:
                name = f"{prefix + '/' if prefix else ''}primary-{j}"
            stations[name] = _Station(
                servers=p.cores,
                capacity=max(p.connections, p.cores),
                read_rps=0.0 if to_replicas else shard_reads / db.primaries,
                write_rps=shard_writes / db.primaries,
                read_ms=read_ms,
                write_ms=write_ms,
            )
        for j in range(replicas):
            name = f"{prefix + '/' if prefix else ''}replica-{j}"
            stations[name] = _Station(
                servers=p.cores,
                capacity=max(p.connections, p.cores),
                read_rps=shard_reads / replicas if to_replicas else 0.0,
                apply_rps=shard_writes,  # every replica applies its shard's writes
                read_ms=read_ms,
                write_ms=write_ms,
            )
    return stations


def _cost(comp: Any) -> tuple[float, bool]:
    """Cost per hour, and whether the default price table was used (see pricing)."""
    return pricing.cost(comp)


def _round(x: float | None, digits: int = 4) -> float | None:
    if x is None or math.isinf(x) or math.isnan(x):
        return None
    return round(x, digits)


def estimate(doc: Document) -> dict[str, Any]:
    """The instant estimate of a validated document (see the module docstring)."""
    comps = doc.components
    wl = doc.workload
    order = _order(doc)
    nodes = {cid: _Node(cid, comps[cid]) for cid in order}
    if wl.target in nodes:
        nodes[wl.target].reads = wl.rps * wl.read_ratio
        nodes[wl.target].writes = wl.rps * (1 - wl.read_ratio)
    count, zipf_s, _ = _keys(doc)

    # 1. Offered load and stations, callers before callees (the call graph is
    # acyclic): a station that refuses requests (M/M/c/K) passes on only the rest.
    for cid in order:
        node = nodes[cid]
        comp = node.comp
        if isinstance(comp, Service):
            read_ms, write_ms = _service_work(comp)
            factor = 1.0 / comp.speed
            if comp.scaling is not None:
                # The USL stretches the work on an instance's cores (as the engine).
                cap = usl_capacity(
                    comp.cores, comp.scaling.contention, comp.scaling.coherency
                )
                factor *= comp.cores / cap
            limit = comp.queue_limit
            node.stations["instance"] = _Station(
                servers=comp.cores,
                copies=comp.instances,
                capacity=comp.cores + limit if limit is not None else None,
                read_rps=node.reads,
                write_rps=node.writes,
                read_ms=(read_ms[0] * factor, read_ms[1]),
                write_ms=(write_ms[0] * factor, write_ms[1]),
            )
        elif isinstance(comp, Database):
            node.stations = _database_layout(doc, comp, node.reads, node.writes)
        for st in node.stations.values():
            st.solve()
        if isinstance(comp, LoadBalancer):
            shares = _balancer_shares(doc, comp)
            node.extra["shares"] = shares
            for t, share in shares.items():
                nodes[t].reads += node.reads * share
                nodes[t].writes += node.writes * share
        elif isinstance(comp, Service):
            passed = 1.0 - node.stations["instance"].blocking
            for callee in comp.calls:
                nodes[callee].reads += node.reads * passed
                nodes[callee].writes += node.writes * passed
        elif isinstance(comp, Cache):
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
                # Buffered writes to one key within a flush interval reach the
                # backing store once.
                p, n = _popularity(count, zipf_s)
                f = comp.flush_interval_s
                flushed = float(np.sum(n * -np.expm1(-node.writes * p * f))) / f
                node.extra["flushed_writes_rps"] = flushed
                backing.writes += min(flushed, node.writes)
            else:
                backing.writes += node.writes

    # 3. Latency, callees before callers: ms for one read / one write arriving.
    latency: dict[str, dict[str, float]] = {}
    for cid in reversed(order):
        node = nodes[cid]
        comp = node.comp
        lat = {"read": 0.0, "write": 0.0}
        if isinstance(comp, LoadBalancer):
            own = comp.overhead_ms if comp.layer == 7 else 0.0
            for kind in lat:
                lat[kind] = own + sum(
                    share * (_hop_ms(doc, comp, comps[t]) + latency[t][kind])
                    for t, share in node.extra["shares"].items()
                )
        elif isinstance(comp, Service):
            st = node.stations["instance"]
            for kind, (mean, _) in (("read", st.read_ms), ("write", st.write_ms)):
                lat[kind] = (
                    st.wait_ms
                    + mean
                    + sum(
                        _hop_ms(doc, comp, comps[c]) + latency[c][kind]
                        for c in comp.calls
                    )
                )
        elif isinstance(comp, Cache):
            own = _mean_and_scv(comp.hit_ms)[0]  # a delay: a cache node is not a queue
            hop = _hop_ms(doc, comp, comps[comp.backing])
            below = latency[comp.backing]
            miss = 1 - node.extra["hit_ratio"]
            lat["read"] = own + miss * (hop + below["read"])
            if comp.strategy == "write_behind":
                lat["write"] = own
            else:
                lat["write"] = own + hop + below["write"]
        elif isinstance(comp, Database):
            lat = _database_latency(doc, comp, node)
        latency[cid] = lat

    # 4. The report.
    out_components: dict[str, Any] = {}
    total_cost = 0.0
    defaults_used = False
    saturated: list[str] = []
    for cid, comp in comps.items():
        node = nodes.get(cid)
        cost, default = _cost(comp)
        total_cost += cost
        defaults_used |= default
        entry: dict[str, Any] = {
            "type": comp.type,
            "offered_rps": _round(node.reads + node.writes if node else 0.0, 3),
            "reads_rps": _round(node.reads if node else 0.0, 3),
            "writes_rps": _round(node.writes if node else 0.0, 3),
            "cost_per_hour": round(cost, 4),
            "reached": node is not None,
        }
        util = peak = None
        if node is not None and node.stations:
            busy = sum(
                s.utilization * s.servers * s.copies for s in node.stations.values()
            )
            servers = sum(s.servers * s.copies for s in node.stations.values())
            util = busy / servers if servers else 0.0
            peak = max(s.offered_utilization for s in node.stations.values())
            if peak >= 1.0:
                saturated.append(cid)
            entry["servers"] = servers
            refused = max(s.blocking for s in node.stations.values())
            if refused > 0.0005:
                entry["refused_ratio"] = _round(refused)
        elif node is None and not isinstance(comp, (LoadBalancer, Cache)):
            util = peak = 0.0
        entry["utilization"] = _round(util)
        entry["peak_utilization"] = _round(peak)
        entry["level"] = _level(peak)
        if node is not None:
            lat = latency[cid]
            r = node.reads + node.writes
            pr = node.reads / r if r else wl.read_ratio
            entry["latency_ms"] = {
                "read": _round(lat["read"], 3),
                "write": _round(lat["write"], 3),
                "mean": _round(pr * lat["read"] + (1 - pr) * lat["write"], 3),
            }
            own = [s.wait_ms for s in node.stations.values()]
            entry["wait_ms"] = _round(max(own), 3) if own else 0.0
        if isinstance(comp, Cache) and node is not None:
            entry["hit_ratio"] = _round(node.extra["hit_ratio"])
        if isinstance(comp, Database) and node is not None:
            entry["nodes"] = {
                name: {
                    "utilization": _round(s.utilization),
                    "offered_utilization": _round(s.offered_utilization),
                    "reads_rps": _round(s.read_rps, 3),
                    "writes_rps": _round(s.write_rps, 3),
                }
                for name, s in node.stations.items()
            }
        if isinstance(comp, LoadBalancer) and node is not None:
            entry["share"] = {t: _round(s) for t, s in node.extra["shares"].items()}
        out_components[cid] = entry

    target = comps.get(wl.target)
    end_to_end = None
    if wl.target in latency:
        lat = latency[wl.target]
        client_hop = 0.0
        if wl.regions and target is not None and target.region:
            away = sum(v for k, v in wl.regions.items() if k != target.region)
            client_hop = away * doc.network.cross_region_ms
        end_to_end = {
            "read": _round(lat["read"] + client_hop, 3),
            "write": _round(lat["write"] + client_hop, 3),
            "mean": _round(
                wl.read_ratio * lat["read"]
                + (1 - wl.read_ratio) * lat["write"]
                + client_hop,
                3,
            ),
        }

        if end_to_end["mean"] is None:
            end_to_end = None  # a saturated station on the way: no steady state
    bottleneck = _bottleneck(doc, nodes, out_components)
    peak_rps = max([wl.rps, *(p.rps for p in wl.phases)])
    notes: list[str] = []
    if saturated:
        notes.append(
            "Overloaded (offered work >= 100% of capacity): "
            + ", ".join(saturated)
            + ". Queues grow without bound, or, with a queue_limit or database "
            "connections, the overflow is refused."
        )
    if bottleneck and peak_rps > wl.rps and bottleneck["utilization"]:
        at_peak = bottleneck["utilization"] * peak_rps / wl.rps if wl.rps else None
        if at_peak is not None and at_peak >= 1.0:
            notes.append(
                f"At the phases' peak of {peak_rps:g} rps, {bottleneck['component']} "
                f"would be at {at_peak:.0%}: saturated during the spike."
            )
    unreached = [cid for cid in comps if cid not in nodes]
    if unreached:
        notes.append("Not reached by the workload: " + ", ".join(unreached) + ".")
    if defaults_used:
        notes.append(
            "Costs use the default price table (simengine.pricing, shared with the "
            "engine's report) where cost_per_hour is unset."
        )
    result = {
        "label": LABEL,
        "rps": wl.rps,
        "peak_rps": peak_rps,
        "read_ratio": wl.read_ratio,
        "components": out_components,
        "latency_ms": end_to_end,
        "saturated": saturated,
        "bottleneck": bottleneck,
        "cost_per_hour": round(total_cost, 4),
        "notes": notes,
        "assumptions": list(ASSUMPTIONS),
    }
    if doc.objectives is not None:
        result["objectives"] = _objectives(doc, result)
    return result


def _objectives(doc: Document, result: dict[str, Any]) -> list[dict[str, Any]]:
    """The document's objectives against what the estimate can say: the mean
    latency, the busiest component, the throughput and the refused share. Tail
    latencies need a run (``estimate`` None, ``met`` None)."""
    comps = result["components"].values()
    lat = result["latency_ms"]
    peaks = [c["peak_utilization"] for c in comps if c["peak_utilization"] is not None]
    busiest = max(peaks, default=0.0)
    overloaded = bool(result["saturated"])
    refused = max((c.get("refused_ratio") or 0.0 for c in comps), default=0.0)
    # a saturated station that refuses nothing queues without bound: its failures
    # are client timeouts, which only a run measures
    unbounded = any(
        not result["components"][cid].get("refused_ratio")
        for cid in result["saturated"]
    )
    neck = result["bottleneck"]
    capacity = neck.get("capacity_rps") if neck else None
    out = []
    for objective, bound, limit in objective_specs(doc.objectives):
        value: float | None = None
        if objective == "latency_ms.mean":
            value = None if lat is None else lat["mean"]
            if lat is None and overloaded:
                value = math.inf  # queues grow without bound
        elif objective == "utilization":
            value = busiest
        elif objective == "throughput_rps":
            value = result["rps"] * (1.0 - refused)
            if capacity:
                value = min(value, capacity)
        elif objective == "error_rate":
            value = refused  # with an unbounded queue, a lower bound
        met = None
        if value is not None:
            met = value <= limit if bound == "max" else value >= limit
            if objective == "error_rate" and unbounded and met:
                met = None  # the timeouts might still break it
        out.append(
            {
                "objective": objective,
                "bound": bound,
                "limit": limit,
                "estimate": None if value is None or math.isinf(value) else value,
                "met": met,
            }
        )
    return out


def _database_latency(doc: Document, db: Database, node: _Node) -> dict[str, float]:
    stations = node.stations
    read_total = sum(s.read_rps for s in stations.values())
    write_total = sum(s.write_rps for s in stations.values())

    def response(s: _Station, mean: float) -> float:
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
    stations: dict[str, _Station], read_total: float, scatter: float
) -> float:
    # Weighted by each node's share of reads; the scatter part loads every shard
    # equally, so the weights differ little from the single-shard ones.
    return sum(
        s.read_rps / read_total * (s.wait_ms + s.read_ms[0])
        for s in stations.values()
        if s.read_rps > 0
    )


def _level(util: float | None) -> str:
    if util is None:
        return "none"
    if util >= HOT_UTILIZATION:
        return "hot"
    if util >= WARN_UTILIZATION:
        return "warm"
    return "ok"


def _needed(current: int, util: float, target: float = WARN_UTILIZATION) -> int:
    return max(current + 1, math.ceil(current * util / target))


def _bottleneck(
    doc: Document, nodes: dict[str, _Node], report: dict[str, Any]
) -> dict[str, Any] | None:
    ranked = [
        (entry["peak_utilization"], cid)
        for cid, entry in report.items()
        if entry["peak_utilization"] is not None and cid in nodes
    ]
    if not ranked:
        return None
    util, cid = max(ranked)
    node = nodes[cid]
    comp = node.comp
    wl = doc.workload
    capacity = wl.rps / util if util > 0 else None
    hot_name, hot = max(node.stations.items(), key=lambda kv: kv[1].offered_utilization)
    why, advice = _advise(doc, cid, comp, node, hot_name, hot, util)
    if util < WARN_UTILIZATION:
        advice = (
            f"Nothing is under pressure yet (everything below {WARN_UTILIZATION:.0%}). "
            "Scale based on actual bottlenecks, not theoretical future load. " + advice
        )
    return {
        "component": cid,
        "node": hot_name if isinstance(comp, Database) else None,
        "utilization": _round(util),
        "capacity_rps": _round(capacity, 1),
        "why": why,
        "advice": advice,
    }


def _advise(
    doc: Document,
    cid: str,
    comp: Any,
    node: _Node,
    hot_name: str,
    hot: _Station,
    util: float,
) -> tuple[str, str]:
    pct = f"{util:.0%}"
    cap = doc.workload.rps / util if util > 0 else math.inf
    cap_text = f"it saturates at about {cap:,.0f} client requests/s" if util > 0 else ""
    if isinstance(comp, Service):
        mean = (hot.read_rps * hot.read_ms[0] + hot.write_rps * hot.write_ms[0]) / max(
            hot.read_rps + hot.write_rps, 1e-12
        )
        why = (
            f"{cid} is the most utilized component: {pct} of its {comp.instances} x "
            f"{comp.cores} cores busy with {node.reads + node.writes:,.0f} requests/s at "
            f"{mean:.3g} ms of work each; {cap_text}."
        )
        need = _needed(comp.instances, util)
        advice = (
            f"Scale out (horizontal scaling): {need} instances instead of "
            f"{comp.instances} would bring it to about "
            f"{util * comp.instances / need:.0%}; or scale up (vertical: more cores or "
            "a faster speed per core)."
        )
        if comp.scaling is not None and comp.scaling.coherency > 0:
            a, b = comp.scaling.contention, comp.scaling.coherency
            best = math.sqrt(max(1 - a, 0) / b)
            if comp.cores >= best:
                advice = (
                    f"More cores per server no longer help: with this contention and "
                    f"coherency, an instance peaks near {best:.0f} cores. Scale out "
                    f"instead ({_needed(comp.instances, util)} instances), or reduce "
                    "work (cache results, cut the work per request)."
                )
        if comp.stateful:
            advice += " It keeps sessions on the instance: make it stateless first."
        if any(isinstance(doc.components[c], Database) for c in comp.calls) and not any(
            isinstance(doc.components[c], Cache) for c in comp.calls
        ):
            advice += " A cache in front of its database also removes read work."
        return why, advice
    # Database
    db: Database = comp
    reads_share = (hot.read_rps * hot.read_ms[0]) / max(
        hot.read_rps * hot.read_ms[0] + hot.write_rps * hot.write_ms[0], 1e-12
    )
    replicas = db.replicas.count if db.replicas else 0
    work = "reads" if reads_share >= 0.5 else "writes"
    why = (
        f"{cid} is the most utilized component: its {hot_name} is {pct} busy "
        f"({hot.read_rps:,.0f} reads/s and {hot.write_rps:,.0f} writes/s on "
        f"{db.primary.cores} cores; {work} are most of the work); {cap_text}."
    )
    has_cache = any(
        isinstance(c, Cache) and c.backing == cid for c in doc.components.values()
    )
    if reads_share >= 0.5:
        steps = []
        if not has_cache:
            steps.append(
                "add a cache in front of it (caching: the quick win that eliminates "
                "repeated reads)"
            )
        if replicas == 0 or db.replicas.reads == "primary":
            steps.append(
                "add read replicas and route reads to them (replication: the primary "
                "keeps the writes)"
            )
        else:
            steps.append(
                f"add read replicas: {_needed(replicas, util)} instead of {replicas}"
            )
        advice = "Reduce and spread the read load: " + "; or ".join(steps) + "."
    else:
        if (
            db.shards is not None
            and db.shards.strategy == "range"
            and db.shards.count > 1
        ):
            advice = (
                "Range sharding with popular keys makes a hot shard: use hash sharding "
                "(or shuffle keys) to spread the writes evenly."
            )
        elif db.primary.cores < 32:
            need = max(db.primary.cores * 2, math.ceil(db.primary.cores * util / 0.7))
            advice = (
                f"Writes all go to the primary: scale it up (vertical scaling: "
                f"{need} cores instead of {db.primary.cores}); replicas do not help "
                "with writes. When that runs out, shard by key (partitioning)."
            )
        else:
            shards = db.shards.count if db.shards else 1
            advice = (
                "The primary is already big: shard by key hash (partitioning) to "
                f"spread the writes, e.g. {_needed(shards, util)} shards."
            )
    return why, advice


def format_estimate(result: dict[str, Any]) -> str:
    """The estimate as plain text, for the command line."""

    def num(x: float | None, digits: int = 1) -> str:
        return "-" if x is None else f"{x:,.{digits}f}"

    lines = [result["label"], ""]
    lat = result["latency_ms"]
    lines.append(
        f"offered {num(result['rps'])} requests/s; mean latency "
        f"{num(lat['mean'], 2) + ' ms' if lat else 'unbounded (overloaded)'}; "
        f"cost {result['cost_per_hour']:,.2f} per hour"
    )
    lines.append("")
    lines.append(
        f"{'component':<16}{'type':<15}{'load rps':>11}{'busy':>8}{'latency ms':>12}"
    )
    for cid, c in result["components"].items():
        busy = c["peak_utilization"]
        busy_text = "-" if busy is None else f"{busy * 100:.1f}%"
        mean = (c.get("latency_ms") or {}).get("mean")
        extra = ""
        if c.get("hit_ratio") is not None:
            extra = f"  hit ratio {c['hit_ratio']:.1%}"
        if c.get("refused_ratio"):
            extra += f"  refuses {c['refused_ratio']:.1%}"
        if not c["reached"]:
            extra += "  (not reached)"
        lines.append(
            f"{cid:<16}{c['type']:<15}{num(c['offered_rps']):>11}{busy_text:>8}"
            f"{num(mean, 2):>12}{extra}"
        )
    neck = result["bottleneck"]
    if neck:
        lines += ["", f"bottleneck: {neck['why']}", f"advice: {neck['advice']}"]
    for note in result["notes"]:
        lines.append(f"note: {note}")
    if result.get("objectives"):
        lines.append("")
        lines.append("objectives (estimate):")
        for c in result["objectives"]:
            sign = "<=" if c["bound"] == "max" else ">="
            verdict = {True: "ok  ", False: "MISS", None: "run "}[c["met"]]
            value = (
                "a run measures it"
                if c["met"] is None
                else format_value(c["objective"], c["estimate"])
                if c["estimate"] is not None
                else "unbounded"
            )
            lines.append(
                f"  {verdict}  {c['objective']} {sign} "
                f"{format_value(c['objective'], c['limit'])}: {value}"
            )
    return "\n".join(lines)
