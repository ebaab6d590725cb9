"""The estimate of a closed workload (``workload.users``): exact mean value analysis.

The users are a closed network: ``users.count`` customers cycle between a delay
station (their think time, plus every fixed delay on a request's way: hops, a
balancer's overhead, a cache's hit time) and the queueing stations a request visits
(every service instance's cores, every database node). The visits come from the open
estimate's walk (``network.walk``) at one request per second: a station's demand is
the work a request brings it on average (its reads and writes per request x their
mean work), which already folds in cache hit ratios, balancer shares, shards and read
routing. Mean value analysis (Reiser and Lavenberg) then solves the network exactly
for n = 1 .. N users: a single-core station by the arrival theorem,
R_k(n) = D_k (1 + Q_k(n - 1)); a station of c cores by the load-dependent recursion
over its marginal probabilities p_k(j | n) of j requests present (exact for
exponential work). Identical instances of a service are one station class with
``copies`` members (symmetric: each sees 1/copies of the visits).

With the throughput X(N) the rest of the estimate (utilizations, the bottleneck,
cost) is the open estimate's at the rate X(N): in a closed network a station's
utilization is X D / c, exactly what the open formulas give at that rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..document import Document
from .network import CALLEES, Node, call_shares, hop_ms, walk

#: The exact multi-server recursion costs N x c per station; beyond this many
#: servers at one station the estimate uses Seidmann's approximation for it.
MAX_EXACT_SERVERS = 256
#: The exact recursion takes about users x cores steps (all stations): beyond this
#: the estimate uses the approximate MVA (Bard-Schweitzer), and says so.
MAX_EXACT_WORK = 300_000


@dataclass
class MvaStation:
    """A queueing station of the closed network: ``copies`` identical members of
    ``servers`` cores each, with demand ``demand_s`` per request at each member."""

    name: str
    component: str
    servers: int
    copies: int
    demand_s: float


@dataclass
class MvaResult:
    """The network at N users: throughput (requests/s), response time (s, the
    queueing stations plus the fixed delay), per station its residence time per
    request over all its members (s), its mean requests present per member and its
    utilization."""

    users: int
    think_s: float
    delay_s: float
    throughput: float
    response_s: float
    residence_s: dict[str, float] = field(default_factory=dict)
    queue: dict[str, float] = field(default_factory=dict)
    utilization: dict[str, float] = field(default_factory=dict)
    approximate: list[str] = field(default_factory=list)
    schweitzer: bool = False  # the approximate MVA (too many users for the exact)


def _utilizations(stations: list[MvaStation], x: float) -> dict[str, float]:
    """Each station's utilization at throughput ``x`` (the utilization law)."""
    return {s.name: x * s.demand_s / s.servers for s in stations}


def mva(
    stations: list[MvaStation], users: int, think_s: float, delay_s: float = 0.0
) -> MvaResult:
    """Exact mean value analysis of a closed network at ``users`` customers.

    ``think_s`` and ``delay_s`` are delay (infinite-server) stations: the think
    time outside a request, the fixed delays inside it. A station with more than
    ``MAX_EXACT_SERVERS`` cores uses Seidmann's approximation (a c-core station as
    a single server of demand D/c plus a delay of D (c - 1)/c), listed in
    ``approximate``."""
    exact = [s for s in stations if s.servers <= MAX_EXACT_SERVERS]
    approx = [s for s in stations if s.servers > MAX_EXACT_SERVERS]
    q = {s.name: 0.0 for s in stations}  # requests present per member at n - 1
    # p[name][j]: probability of j requests at a member, j < servers, at n - 1
    p = {s.name: [1.0] + [0.0] * (s.servers - 1) for s in exact if s.servers > 1}
    x = 0.0
    residence: dict[str, float] = {}
    response = delay_s
    for n in range(1, users + 1):
        residence = {}
        for s in stations:
            c, d = s.servers, s.demand_s
            if s in approx:
                per_member = d / c * (1.0 + q[s.name]) + d * (c - 1) / c
            elif c == 1:
                per_member = d * (1.0 + q[s.name])
            else:
                pj = p[s.name]
                idle = sum((c - 1 - j) * pj[j] for j in range(c - 1))
                per_member = d / c * (1.0 + q[s.name] + idle)
            residence[s.name] = per_member * s.copies
        response = delay_s + sum(residence.values())
        x = n / (think_s + response)
        for s in stations:
            q[s.name] = x * residence[s.name] / s.copies
        for s in exact:
            if s.servers <= 1:
                continue
            c, d = s.servers, s.demand_s
            old = p[s.name]
            new = [0.0] * c
            for j in range(1, c):
                new[j] = x * d / j * old[j - 1]
            busy = x * d  # mean busy cores of a member
            rest = sum((c - j) * new[j] for j in range(1, c))
            new[0] = max(0.0, 1.0 - (busy + rest) / c)
            p[s.name] = new
    result = MvaResult(
        users=users,
        think_s=think_s,
        delay_s=delay_s,
        throughput=x,
        response_s=response,
        residence_s=residence,
        queue=dict(q),
        utilization=_utilizations(stations, x),
        approximate=[s.component for s in approx],
    )
    return result


def schweitzer_mva(
    stations: list[MvaStation], users: int, think_s: float, delay_s: float = 0.0
) -> MvaResult:
    """Approximate mean value analysis (Bard-Schweitzer: Q(N - 1) ~ (N - 1)/N Q(N),
    solved as a fixed point) with Seidmann's multi-core stations: for populations
    too large for the exact recursion (``MAX_EXACT_WORK``). Every station is listed
    in ``approximate``."""
    share = users / max(len(stations), 1)
    q = {s.name: share / s.copies for s in stations}  # queueing part, per member
    x = 0.0
    residence: dict[str, float] = {}
    response = delay_s
    for _ in range(100_000):
        residence = {}
        queueing = {}
        for s in stations:
            c, d = s.servers, s.demand_s
            queueing[s.name] = d / c * (1.0 + q[s.name] * (users - 1) / users)
            residence[s.name] = (queueing[s.name] + d * (c - 1) / c) * s.copies
        response = delay_s + sum(residence.values())
        x = users / (think_s + response)
        new = {name: x * r for name, r in queueing.items()}
        moved = max((abs(new[k] - q[k]) for k in new), default=0.0)
        q = new
        if moved <= 1e-10 * users:
            break
    result = MvaResult(
        users=users,
        think_s=think_s,
        delay_s=delay_s,
        throughput=x,
        response_s=response,
        residence_s=residence,
        queue={s.name: x * residence[s.name] / s.copies for s in stations},
        utilization=_utilizations(stations, x),
        approximate=[s.component for s in stations],
    )
    return result


def exact_work(stations: list[MvaStation], users: int) -> int:
    """About how many steps the exact recursion takes."""
    return users * sum(max(s.servers, 1) for s in stations)


def _delay_ms(doc: Document, nodes: dict[str, Node], rate: float) -> float:
    """The fixed delays of one request, ms, from the walk at ``rate``: balancer
    overhead, cache hits, a shard directory, the hops of every call (weighted by
    the calls a request makes)."""
    comps = doc.components
    total = 0.0
    for node in nodes.values():
        comp = node.comp
        calls = (node.reads + node.writes) / rate  # per request
        if comp.type == "load_balancer":
            own = comp.overhead_ms if comp.layer == 7 else 0.0
            total += calls * own
            for t, share in node.extra["shares"].items():
                total += calls * share * hop_ms(doc, comp, comps[t])
        elif comp.type == "service":
            passed = 1.0 - node.stations["instance"].blocking
            for callee, p in call_shares(comp):
                total += calls * passed * p * hop_ms(doc, comp, comps[callee])
        elif comp.type == "queue":  # the publish: the answer comes after it
            total += calls * (comp.publish_ms.mean or 0.0)
        elif comp.type == "cache":
            total += calls * (comp.hit_ms.mean or 0.0)
            hit = node.extra["hit_ratio"]
            to_backing = node.reads * (1 - hit)
            if comp.strategy != "write_behind":
                to_backing += node.writes
            total += to_backing / rate * hop_ms(doc, comp, comps[comp.backing])
        elif comp.type == "database":
            shards = comp.shards
            if shards is not None and shards.strategy == "directory":
                total += calls * shards.directory_ms
    wl = doc.workload
    target = comps.get(wl.target)
    total += doc.network.hop_ms  # the client's call to the target
    if wl.regions and target is not None and target.region:
        away = sum(v for k, v in wl.regions.items() if k != target.region)
        total += away * doc.network.cross_region_ms
    return total


def network_stations(doc: Document, rate: float) -> tuple[list[MvaStation], float]:
    """The queueing stations a request visits (demands per request) and the fixed
    delay of a request (s), from the open walk at ``rate`` requests per second (the
    rate matters only where hit ratios depend on it: a cache's TTL)."""
    unit = _open_copy(doc, rate)
    nodes, _ = walk(unit)
    on_path = _response_path(doc)
    stations: list[MvaStation] = []
    for cid, node in nodes.items():
        if cid not in on_path:  # a queue's consumers work after the user's answer
            continue
        for name, st in node.stations.items():
            # a replica's applied writes load it but are not on a request's way:
            # left out of the demand (the estimate says it is approximate then)
            work_ms = st.read_rps * st.read_ms[0] + st.write_rps * st.write_ms[0]
            if work_ms <= 0:
                continue
            servers, copies = st.servers, st.copies
            if st.dispatch is not None and st.dispatch[0] == "pooled":
                servers, copies = servers * copies, 1  # one queue before every core
            stations.append(
                MvaStation(
                    name=f"{cid}.{name}",
                    component=cid,
                    servers=servers,
                    copies=copies,
                    # per member and per request (the walk ran at ``rate``)
                    demand_s=work_ms / 1000.0 / rate / copies,
                )
            )
    return stations, _delay_ms(unit, nodes, rate) / 1000.0


def _response_path(doc: Document) -> set[str]:
    """The components a user's request waits on: reached from the target through
    calls, but not past a queue (it answers at publish; its consumers work later)."""
    seen = {doc.workload.target}
    todo = [doc.workload.target]
    while todo:
        comp = doc.components.get(todo.pop())
        if comp is None or comp.type == "queue":
            continue
        for callee in CALLEES[comp.type](comp):
            if callee not in seen:
                seen.add(callee)
                todo.append(callee)
    return seen


def _open_copy(doc: Document, rate: float) -> Document:
    """``doc`` as an open workload at ``rate`` (no users, no phases)."""
    wl = doc.workload.model_copy(update={"rps": rate, "users": None, "phases": ()})
    return doc.model_copy(update={"workload": wl})


def solve(doc: Document) -> tuple[MvaResult, Document]:
    """MVA of a closed document at ``users.count``, and the document as an open
    workload at the throughput found (for the rest of the estimate)."""
    users = doc.workload.users
    assert users is not None
    think_s = (users.think_ms.mean or 0.0) / 1000.0
    rate = 1.0
    result = None
    # a cache's hit ratio under TTL depends on the rate: settle it (a few rounds)
    ttl = any(c.type == "cache" and c.ttl_s for c in doc.components.values())
    for _ in range(6 if ttl else 1):
        stations, delay_s = network_stations(doc, rate)
        if exact_work(stations, users.count) <= MAX_EXACT_WORK:
            result = mva(stations, users.count, think_s, delay_s)
        else:
            result = schweitzer_mva(stations, users.count, think_s, delay_s)
            result.schweitzer = True
        if result.throughput <= 0 or abs(result.throughput - rate) <= 1e-6 * rate:
            break
        rate = result.throughput
    assert result is not None
    return result, _open_copy(doc, max(result.throughput, 1e-12))


def closed_section(doc: Document, result: MvaResult) -> dict[str, Any]:
    """The estimate's ``closed`` key."""
    users = doc.workload.users
    assert users is not None

    def ms(s: float) -> float:
        return round(s * 1000.0, 4)

    method = "exact mean value analysis"
    if result.schweitzer:
        method = (
            f"approximate mean value analysis (Bard-Schweitzer, Seidmann's for "
            f"multi-core stations): {users.count} users are too many for the exact "
            "recursion to be instant"
        )
    elif result.approximate:
        method += (
            "; Seidmann's approximation (approximate) for the stations of "
            + ", ".join(dict.fromkeys(result.approximate))
            + f" (more than {MAX_EXACT_SERVERS} cores)"
        )
    peak = max([users.count, *(p.users or 0 for p in doc.workload.phases)])
    return {
        "users": users.count,
        "peak_users": peak,
        "think_ms_mean": ms(result.think_s),
        "throughput_rps": round(result.throughput, 4),
        "response_ms": ms(result.response_s),
        "cycle_ms": {"mean": ms(result.response_s + result.think_s)},
        "delay_ms": ms(result.delay_s),
        "method": method,
        "stations": {
            name: {
                "residence_ms": ms(result.residence_s[name]),
                "queue_mean": round(result.queue[name], 4),
                "utilization": round(result.utilization[name], 4),
            }
            for name in result.residence_s
        },
        "bound_rps": round(_bound(result), 4)
        if math.isfinite(_bound(result))
        else None,
    }


def _bound(result: MvaResult) -> float:
    """The asymptotic bound on throughput: 1 / the largest demand per core."""
    worst = 0.0
    for util in result.utilization.values():
        if result.throughput > 0:
            worst = max(worst, util / result.throughput)
    return 1.0 / worst if worst > 0 else math.inf


def _approximations(doc: Document) -> list[str]:
    """Where the network is not one MVA solves exactly, in words."""
    out = []
    comps = doc.components
    not_exp = sorted(
        cid
        for cid, comp in comps.items()
        if comp.type in ("service", "database") and not _exponential(comp)
    )
    if not_exp:
        out.append(
            "work that is not exponential at " + ", ".join(not_exp) + " (MVA is exact "
            "for exponential work; other distributions are taken at their means)"
        )
    if any(
        c.type == "database" and c.replicas is not None and c.replicas.count > 0
        for c in comps.values()
    ):
        out.append(
            "replicas applying writes (that work loads them but is left out of a "
            "request's demand)"
        )
    if doc.workload.scatter_ratio > 0 and any(
        c.type == "database" and c.shards is not None and c.shards.count > 1
        for c in comps.values()
    ):
        out.append("scatter reads (taken as visits to every shard in turn)")
    peak = _peak(doc)
    limited = [
        cid
        for cid, c in comps.items()
        if (
            c.type == "service"
            and c.queue_limit is not None
            and c.queue_limit + c.cores < peak
        )
        or (c.type == "database" and c.primary.connections < peak)
    ]
    if limited:
        out.append(
            "queue or connection limits below the number of users at "
            + ", ".join(limited)
            + " (refusals are not modelled)"
        )
    return out


def _peak(doc: Document) -> int:
    users = doc.workload.users
    assert users is not None
    return max([users.count, *(p.users or 0 for p in doc.workload.phases)])


def _exponential(comp: Any) -> bool:
    from ..document import Distribution, ReadWriteWork

    if comp.type == "service":
        work = comp.work_ms
        works = [work.read, work.write] if isinstance(work, ReadWriteWork) else [work]
    else:
        works = [comp.primary.read_ms, comp.primary.write_ms]
    return all(isinstance(w, Distribution) and w.dist == "exponential" for w in works)


def closed_estimate(doc: Document) -> dict[str, Any]:
    """The estimate of a closed workload: MVA for the throughput and the response
    time, the open estimate at that throughput for the rest (see the module)."""
    from . import model

    result, open_doc = solve(doc)
    out = model.estimate(open_doc)
    out["rps"] = round(result.throughput, 4)
    out["peak_rps"] = None  # phases change users, not a rate
    out["latency_ms"] = {"mean": round(result.response_s * 1000.0, 3)}
    for entry in out["components"].values():
        if entry.get("latency_ms") is not None:
            # the open formulas at that rate are not the closed network's: the
            # MVA's residence per station is in closed.stations
            entry["latency_ms"] = None
            entry["wait_ms"] = None
    section = closed_section(doc, result)
    approx = _approximations(doc)
    section["approximate"] = approx
    out["closed"] = section
    notes = [
        n for n in out["notes"] if not n.startswith("Arrivals are a renewal process")
    ]
    users = doc.workload.users
    assert users is not None
    notes.insert(
        0,
        f"A closed workload: {users.count} users thinking "
        f"{section['think_ms_mean']:g} ms on average; {section['method']} gives "
        f"{section['throughput_rps']:g} requests/s and a mean response of "
        f"{section['response_ms']:g} ms (per-component latencies: a run measures "
        "them; the MVA's time at each station is in closed.stations).",
    )
    if approx:
        notes.insert(1, "The MVA is approximate here: " + "; ".join(approx) + ".")
    if section["peak_users"] != users.count:
        notes.append(
            f"Phases change the users (up to {section['peak_users']}); the estimate "
            f"is for the first {users.count}: estimate not available for the "
            "phases, run it."
        )
    out["notes"] = notes
    out["assumptions"] = [
        "A closed network: every user has one request outstanding at most, then "
        "thinks (a delay station); mean value analysis solves it exactly for "
        "exponential work at the stations (a multi-core station by its marginal "
        "probabilities).",
        *out["assumptions"][1:],
    ]
    if doc.objectives is not None:
        out["objectives"] = model._objectives(doc, out)
    return out
