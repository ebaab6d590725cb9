"""The estimate's result: per component, end to end, the bottleneck, the notes."""

from __future__ import annotations

import math
from typing import Any

from .. import pricing
from ..advice import HOT_UTILIZATION, WARN_UTILIZATION, Load, advise
from ..document import Distribution, Document
from ..objectives import objective_specs
from .network import CALLEES, Node, walk
from .stations import fed_by_clients as _fed
from .stations import has_stations

LABEL = "Estimate — a run gives the measured truth"

ASSUMPTIONS = (
    "Every station is an M/G/c queue with Poisson arrivals (Erlang C with the "
    "Allen-Cunneen correction for the service-time variability); bursty and constant "
    "arrivals, autoscaling, faults and timeouts are not modelled.",
    "Constant or renewal arrivals are used where the clients call a one-instance "
    "service directly (Allen-Cunneen: the wait scales with (ca^2 + cs^2) / 2, "
    "with Kramer and Langenbach-Belz's correction for gaps more regular than "
    "Poisson); "
    "elsewhere arrivals are Poisson. A processor-sharing service (discipline: ps) "
    "takes the M/M/c mean response whatever its work's distribution (exact for "
    "Poisson arrivals: PS is insensitive).",
    "A balancer is a fixed delay (overhead_ms at layer 7) and a cache a fixed delay "
    "(hit_ms), not queues (as in the engine); a balancer with work_ms is also an "
    "M/G/c station per balancer instance (its cores), fed its share of the load.",
    "A service calls each of its dependencies once per request (a call with a "
    "probability on that share of them: Jackson's visit ratios); a call to another "
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

#: Added to ``assumptions`` for a document with a queue.
QUEUE_ASSUMPTION = (
    "A queue answers its producer after publish_ms; its consumer side is an M/M/c "
    "queue with c = concurrency and the consumer's mean response as the service "
    "time (M/M/c/K with a capacity); the consumer's latency is not in the client's."
)


def _round(x: float | None, digits: int = 4) -> float | None:
    if x is None or math.isinf(x) or math.isnan(x):
        return None
    return round(x, digits)


def _level(util: float | None) -> str:
    if util is None:
        return "none"
    if util >= HOT_UTILIZATION:
        return "hot"
    if util >= WARN_UTILIZATION:
        return "warm"
    return "ok"


def _carried(node: Node) -> float:
    """Busy core-time over available core-time, over all of a node's stations."""
    stations = node.stations.values()
    servers = sum(s.servers * s.copies for s in stations)
    busy = sum(s.utilization * s.servers * s.copies for s in stations)
    return busy / servers if servers else 0.0


def _read_share(node: Node) -> float | None:
    """Share of a node's work spent on reads (a replica's applied writes are
    writes), as a run's ``read_work_share``."""
    reads = sum(s.read_rps * s.read_ms[0] for s in node.stations.values())
    writes = sum(
        (s.write_rps + s.apply_rps) * s.write_ms[0] for s in node.stations.values()
    )
    return reads / (reads + writes) if reads + writes > 0 else None


def load(node: Node) -> Load:
    """A reached component as the advisor's ``Load`` (as a run's report entry
    gives it: utilization, busiest nodes, read share, refused share)."""
    stations = node.stations
    if not stations:
        return Load(None)  # a delay: no capacity of its own
    arrivals = sum(s.read_rps + s.write_rps for s in stations.values())
    refused = sum((s.read_rps + s.write_rps) * s.blocking for s in stations.values())
    if node.shards:  # named nodes: the component is their average
        return Load(
            utilization=_carried(node),
            read_share=_read_share(node),
            nodes={name: s.offered_utilization for name, s in stations.items()},
            shards=tuple(
                sum(stations[n].offered_utilization for n in names) / len(names)
                for names in node.shards
            )
            if len(node.shards) > 1
            else (),
            refused_share=refused / arrivals if arrivals else 0.0,
        )
    return Load(
        utilization=max(s.offered_utilization for s in stations.values()),
        read_share=_read_share(node),
        refused_share=refused / arrivals if arrivals else 0.0,
    )


def _infinite_variance(doc: Document) -> list[str]:
    """Components with a duration of infinite variance (a pareto with alpha <= 2)."""
    out = []
    for cid, comp in doc.components.items():
        for value in comp.__dict__.values():
            durations = [value] if isinstance(value, Distribution) else []
            durations += [
                v
                for v in getattr(value, "__dict__", {}).values()
                if isinstance(v, Distribution)
            ]
            if any(math.isinf(d.scv) for d in durations):
                out.append(cid)
                break
    return out


def _below(doc: Document, start: str) -> list[str]:
    """``start`` and every component it reaches through calls."""
    seen = [start]
    i = 0
    while i < len(seen):
        comp = doc.components.get(seen[i])
        i += 1
        if comp is None:
            continue
        for c in CALLEES[comp.type](comp):
            if c not in seen:
                seen.append(c)
    return seen


def _breakers(doc: Document, nodes: dict[str, Node]) -> tuple[list[str], set[str]]:
    """The notes on the circuit breakers of reached calls, and the callers whose
    latency the estimate cannot give because a breaker may open in steady state.

    Without faults a breaker opens only if its call fails at least ``error_rate`` of
    the time. A call fails at most 1 - prod(1 - refused) over the stations it can
    reach (each refusing its M/M/c/K share); below ``error_rate`` the breaker never
    opens and the estimate leaves it out (and says so). A saturated station on the
    way (a queue that grows, so timeouts) or a bound at or over ``error_rate``: the
    estimate does not say what the breaker does.
    """
    notes: list[str] = []
    unknown: set[str] = set()
    faulted = {f.component for f in doc.faults}
    for cid, node in nodes.items():
        if node.comp.type != "service":
            continue
        for call in node.comp.calls:
            if isinstance(call, str) or call.breaker is None:
                continue
            below = _below(doc, call.to)
            ok = 1.0
            saturated = []
            for b in below:
                for st in nodes[b].stations.values() if b in nodes else ():
                    ok *= 1.0 - st.blocking
                    if st.offered_utilization >= 1.0 and st.blocking == 0.0:
                        saturated.append(b)
            fails = 1.0 - ok
            rate = call.breaker.error_rate
            name = f"{cid} -> {call.to}"
            if saturated or fails >= rate:
                why = (
                    f"{', '.join(dict.fromkeys(saturated))} is saturated (its queue "
                    "grows, so calls time out)"
                    if saturated
                    else f"up to {fails:.1%} of its calls are refused (error_rate "
                    f"{rate:g})"
                )
                notes.append(
                    f"Estimate not available with a circuit breaker on {name}: {why}, "
                    f"so it may open; run it. No latency is given for {cid} and "
                    "end to end."
                )
                unknown.add(cid)
                continue
            text = (
                f"Circuit breaker on {name} left out: without faults at most "
                f"{fails:.1%} of its calls fail, under its error_rate {rate:g}, so it "
                "never opens."
            )
            hit = [b for b in below if b in faulted]
            if hit:
                text += (
                    f" During the faults on {', '.join(hit)} it would: estimate not "
                    "available with a circuit breaker for them; run it."
                )
            notes.append(text)
    return notes, unknown


def _waiting(node: Node) -> dict[str, float | None]:
    """The probability of waiting for a core (arrivals finding every core busy)
    and, for FCFS stations, the mean wait (ms), averaged over a node's stations
    by their arrivals, as a run's ``components.<id>.waiting``."""
    stations = [
        s for s in node.stations.values() if s.read_rps + s.write_rps + s.apply_rps
    ]
    rates = [s.read_rps + s.write_rps + s.apply_rps for s in stations]
    total = sum(rates)
    if not total:
        return {"probability": 0.0}
    probs = [s.wait_probability for s in stations]
    probability = (
        None
        if any(p is None for p in probs)
        else sum(r * p for r, p in zip(rates, probs, strict=True)) / total
    )
    out: dict[str, float | None] = {"probability": _round(probability)}
    if all(s.discipline != "ps" for s in stations):
        out["mean_ms"] = _round(
            sum(r * s.wait_ms for r, s in zip(rates, stations, strict=True)) / total,
            3,
        )
    return out


def _bottleneck(doc: Document, nodes: dict[str, Node]) -> dict[str, Any] | None:
    finding = advise(doc, {cid: load(node) for cid, node in nodes.items()})
    if finding.component is None:
        return None
    util = finding.utilization
    capacity = doc.workload.rps / util if util > 0 else None
    return {
        "component": finding.component,
        "node": finding.node,
        "utilization": _round(util),
        "capacity_rps": _round(capacity, 1),
        "why": finding.why,
        "advice": finding.advice,
    }


def _cache_entry(node: Node, entry: dict[str, Any]) -> None:
    entry["hit_ratio"] = _round(node.extra["hit_ratio"])


def _database_entry(node: Node, entry: dict[str, Any]) -> None:
    entry["nodes"] = {
        name: {
            "utilization": _round(s.utilization),
            "offered_utilization": _round(s.offered_utilization),
            "reads_rps": _round(s.read_rps, 3),
            "writes_rps": _round(s.write_rps, 3),
        }
        for name, s in node.stations.items()
    }


def _balancer_entry(node: Node, entry: dict[str, Any]) -> None:
    entry["share"] = {t: _round(s) for t, s in node.extra["shares"].items()}
    if node.comp.rate_limit is not None:
        # the token bucket's share (see network._balancer_stations)
        offered = node.reads + node.writes
        accepted = node.extra.get("accepted", 1.0)
        entry["accepted_rps"] = _round(offered * accepted, 3)
        entry["rate_limited_rps"] = _round(offered * (1.0 - accepted), 3)
        if accepted < 1.0:
            entry["refused_ratio"] = _round(1.0 - accepted)


def _queue_entry(node: Node, entry: dict[str, Any]) -> None:
    q = node.extra["queue"]
    wait = q["wait_ms"]
    response = q["response_ms"]
    entry["consumer_response_ms"] = _round(response, 3)
    entry["consumer_wait_ms"] = _round(wait, 3)
    entry["end_to_end_ms"] = None if wait is None else _round(wait + response, 3)
    if q["blocking"] > 0.0005:
        # drop_oldest discards as many as reject refuses (the same M/M/c/K)
        full = "dropped_ratio" if node.comp.when_full == "drop_oldest" else None
        entry[full or "refused_ratio"] = _round(q["blocking"])
    entry["grows_msg_per_s"] = _round(q["grows_rps"], 3)


def _cdn_entry(node: Node, entry: dict[str, Any]) -> None:
    hits = node.extra["region_hit_ratio"]
    shares = node.comp.regions
    entry["regions"] = {name: {"hit_ratio": _round(hits[name])} for name in shares}
    # of all the reads it takes (the clients of regions it does not serve miss)
    regions = node.extra["client_regions"]
    entry["hit_ratio"] = _round(sum(regions.get(n, 0.0) * hits[n] for n in shares))


#: What a reached component's entry adds, by type.
ENTRY: dict[str, Any] = {
    "cache": _cache_entry,
    "database": _database_entry,
    "load_balancer": _balancer_entry,
    "queue": _queue_entry,
    "cdn": _cdn_entry,
}


def _queue_notes(nodes: dict[str, Node]) -> list[str]:
    """What the estimate cannot give for a queue whose consumers do not keep up."""
    notes = []
    for cid, node in nodes.items():
        q = node.extra.get("queue") if node.comp.type == "queue" else None
        if q is None or q["wait_ms"] is not None:
            continue
        grows = q["grows_rps"]
        by = f" by about {grows:,.1f} msg/s" if grows is not None else ""
        notes.append(
            f"Estimate not available for queue {cid}'s consumer lag: its consumers "
            f"({node.comp.consumers}, concurrency {node.comp.concurrency}) do not "
            f"keep up with {q['rate']:g} msg/s, so the queue grows{by} for as long "
            "as the run lasts; run it to see the depth and lag a finite run reaches, "
            "or give it a capacity."
        )
    return notes


def estimate(doc: Document) -> dict[str, Any]:
    """The instant estimate of a validated document (see the package docstring)."""
    if doc.workload.users is not None:  # a closed workload: mean value analysis
        from .closed import closed_estimate

        return closed_estimate(doc)
    retry_section: dict[str, Any] | None = None
    retry_note = None
    asked = doc.workload
    if asked.retry is not None:  # the stations carry the attempts (analytic/retry)
        from .retry import retry_attempts

        doc, retry_section, retry_note = retry_attempts(doc)
    comps = doc.components
    wl = doc.workload
    nodes, latency = walk(doc)

    out_components: dict[str, Any] = {}
    total_cost = 0.0
    default_priced: list[str] = []
    saturated: list[str] = []
    for cid, comp in comps.items():
        node = nodes.get(cid)
        cost, default = pricing.cost(comp)
        total_cost += cost
        if default:
            default_priced.append(cid)
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
            util = _carried(node)
            peak = max(s.offered_utilization for s in node.stations.values())
            if peak >= 1.0:
                saturated.append(cid)
            entry["servers"] = sum(s.servers * s.copies for s in node.stations.values())
            refused = max(s.blocking for s in node.stations.values())
            if refused > 0.0005:
                entry["refused_ratio"] = _round(refused)
            entry["read_work_share"] = _round(_read_share(node))
        elif node is None and has_stations(comp):
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
            if node.stations:
                entry["waiting"] = _waiting(node)
            extra = ENTRY.get(comp.type)
            if extra is not None:
                extra(node, entry)
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
    breaker_notes, no_latency = _breakers(doc, nodes)
    if no_latency:
        end_to_end = None
        for cid in no_latency:
            out_components[cid]["latency_ms"] = None
    bottleneck = _bottleneck(doc, nodes)
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
    direct = nodes.get(wl.target)
    renewal = not isinstance(wl.arrivals, str) or wl.arrivals == "constant"
    if renewal and direct is not None and _fed(doc, direct):
        ps = direct.comp.discipline == "ps"
        gaps, scv = (
            ("constant", 0.0)
            if isinstance(wl.arrivals, str)
            else (wl.arrivals.dist, wl.arrivals.scv)
        )
        notes.append(
            f"Arrivals are a renewal process ({gaps} gaps, squared cv "
            f"{scv:.3g}); at {wl.target} the estimate "
            + (
                "treats them as Poisson (processor sharing has no simple closed "
                "form for other arrivals)"
                if ps
                else "takes their variability into the wait (Allen-Cunneen with "
                "Kramer and Langenbach-Belz's correction, approximate)"
            )
            + "; past it arrivals are Poisson. The probability of waiting at "
            f"{wl.target} is not available: run it."
        )
    elif not isinstance(wl.arrivals, str):
        notes.append(
            f"Arrivals are a renewal process ({wl.arrivals.dist} gaps); the estimate "
            "treats them as Poisson: it overstates the waits for gaps more regular "
            "than Poisson (cv < 1) and understates them for burstier ones. A run "
            "measures them."
        )
    heavy = _infinite_variance(doc)
    if heavy:
        notes.append(
            "Estimate not available for the waits at "
            + ", ".join(heavy)
            + ": a pareto duration with alpha <= 2 has infinite variance, so the mean "
            "wait in a queue has no finite value (Pollaczek-Khinchine); run it to see "
            "what a finite run measures."
        )
    limited = [
        cid
        for cid, comp in comps.items()
        if cid in nodes and getattr(comp, "rate_limit", None) is not None
    ]
    if limited and wl.arrivals == "poisson":
        notes.append(
            "Rate limits ("
            + ", ".join(limited)
            + "): the share accepted is the token bucket's long-run 1 - P(no "
            "token) for Poisson arrivals (solved numerically; a small burst "
            "refuses some requests even below its rps, a large one tends to "
            "min(offered, rps)); the rest is answered 429 at once. It is exact for "
            "a balancer the clients call directly and approximate behind other "
            "components (their output is not Poisson)."
        )
    elif limited and wl.arrivals == "bursty":
        notes.append(
            "Rate limits ("
            + ", ".join(limited)
            + ") are taken at the fluid level of each burst and quiet period: a "
            "limit accepts min(the period's rate, rps), plus the burst it saved up "
            "while quiet, and answers the rest 429. Approximate: the Poisson noise "
            "within a period refuses a little more. A run measures it."
        )
    elif limited:
        notes.append(
            "Rate limits ("
            + ", ".join(limited)
            + ") are taken at the fluid level: a limit accepts min(offered rate, "
            "rps) and answers the rest 429. Exact for constant arrivals; for other "
            "renewal arrivals it is approximate (a small burst refuses some "
            "requests even below rps). A run measures it."
        )
    notes += breaker_notes
    notes += _queue_notes(nodes)
    unreached = [cid for cid in comps if cid not in nodes]
    if unreached:
        notes.append("Not reached by the workload: " + ", ".join(unreached) + ".")
    if default_priced:
        which = (
            "every component"
            if len(default_priced) == len(comps)
            else ", ".join(default_priced)
        )
        notes.append(
            f"Costs of {which} use Scaleboard's standard prices (roughly public-cloud "
            "on-demand rates, the same a run's report uses). To use your own, set "
            "a component's Cost ($ per hour) in the inspector."
        )
    if retry_note:
        notes.append(retry_note)
    if retry_section is not None:  # the clients' rates, not the attempts'
        peak_rps = max([asked.rps, *(p.rps for p in asked.phases)])
    result = {
        "label": LABEL,
        "rps": asked.rps,
        "peak_rps": peak_rps,
        "read_ratio": wl.read_ratio,
        "components": out_components,
        "latency_ms": end_to_end,
        "saturated": saturated,
        "bottleneck": bottleneck,
        "cost_per_hour": round(total_cost, 4),
        "notes": notes,
        "assumptions": list(ASSUMPTIONS)
        + (
            [QUEUE_ASSUMPTION] if any(c.type == "queue" for c in comps.values()) else []
        ),
    }
    if retry_section is not None:
        result["retry"] = retry_section
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
    retry = result.get("retry")
    if retry and retry["available"]:  # a refused attempt is re-sent: give-ups fail
        refused = retry["gave_up_ratio"]
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
