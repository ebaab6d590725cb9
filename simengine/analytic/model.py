"""The estimate's result: per component, end to end, the bottleneck, the notes."""

from __future__ import annotations

import math
from typing import Any

from .. import pricing
from ..advice import HOT_UTILIZATION, WARN_UTILIZATION, Load, advise
from ..document import Distribution, Document
from ..objectives import objective_specs
from .network import STATIONS, Node, walk

LABEL = "Estimate — a run gives the measured truth"

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


#: What a reached component's entry adds, by type.
ENTRY: dict[str, Any] = {
    "cache": _cache_entry,
    "database": _database_entry,
    "load_balancer": _balancer_entry,
}


def estimate(doc: Document) -> dict[str, Any]:
    """The instant estimate of a validated document (see the package docstring)."""
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
        elif node is None and comp.type in STATIONS:
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
    if not isinstance(wl.arrivals, str):
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
        "assumptions": list(ASSUMPTIONS),
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
