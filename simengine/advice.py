"""The bottleneck, in plain words tied to the seed's techniques, and run warnings."""

from __future__ import annotations

from typing import Any

from .document import Database, Document, LoadBalancer, Service


def _pct(x: float) -> str:
    return f"{round(100 * x)}%"


def bottleneck(doc: Document, components: dict[str, Any]) -> dict[str, Any]:
    """The most utilized component and what would relieve it.

    Below 50% every component has headroom; the advice then still says what would
    relieve the busiest one, the first to saturate if the load grows.
    """
    if not components:
        return {"component": None, "utilization": 0.0, "advice": "nothing to measure"}
    cid = max(components, key=lambda c: component_load(components[c]))
    rep = components[cid]
    util = component_load(rep)
    spec = doc.components[cid]
    where, relief = _relief(doc, cid, spec, rep, rep.get("utilization") or 0.0)
    if util < 0.5:
        nodes = _nodes(rep)
        label = cid
        if len(nodes) > 1:
            hot = max(nodes, key=lambda k: nodes[k])
            label = f"{cid} (its busiest node, {hot})"
        advice = (
            f"{label} is the busiest component at {_pct(util)}: every component has "
            "headroom at this load"
        )
        if util > 0 and relief:
            advice += (
                f"; {cid} saturates first if the load grows (near "
                f"{1 / util:.1f}x this load, if its work grows in proportion): "
                f"{relief}"
            )
    elif relief:
        advice = f"{where}: {relief}"
    else:
        advice = where
    return {"component": cid, "utilization": util, "advice": advice}


def _nodes(rep: dict[str, Any]) -> dict[str, float]:
    nodes = rep.get("nodes")
    if not isinstance(nodes, dict):
        return {}
    return {
        name: (n.get("utilization") or 0.0)
        for name, n in nodes.items()
        if isinstance(n, dict)
    }


def component_load(rep: dict[str, Any]) -> float:
    """A component's utilization, or its busiest node's (a database's utilization
    averages its nodes, so a saturated primary beside idle replicas would hide)."""
    return max([rep.get("utilization") or 0.0, *_nodes(rep).values()])


def _relief(
    doc: Document, cid: str, spec: Any, rep: dict[str, Any], util: float
) -> tuple[str, str]:
    """Where the component stands, and what would relieve it."""
    if isinstance(spec, Service):
        return _service_relief(doc, cid, spec, util)
    if isinstance(spec, Database):
        return _database_relief(cid, spec, rep, util)
    return f"{cid} at {_pct(util)}", ""


def _service_relief(
    doc: Document, cid: str, spec: Service, util: float
) -> tuple[str, str]:
    n = spec.instances
    where = f"{cid} at {_pct(util)} ({n} instance{'s' * (n != 1)} x {spec.cores} cores)"
    if spec.scaling and (spec.scaling.contention or spec.scaling.coherency):
        extra = (
            "; its contention limits what more cores per machine buy, so prefer "
            "more instances"
        )
    else:
        extra = ""
    behind_lb = any(
        isinstance(c, LoadBalancer) and cid in c.targets
        for c in doc.components.values()
    )
    if behind_lb:
        relief = (
            "add instances behind the load balancer (horizontal scaling) or give "
            f"each more or faster cores (vertical scaling){extra}"
        )
    elif spec.autoscale is None and n == 1:
        relief = (
            "a single server is the limit and a single point of failure: put a load "
            "balancer in front and run several instances (horizontal scaling), or a "
            f"bigger machine (vertical scaling){extra}"
        )
    else:
        relief = (
            "add instances (horizontal scaling) or bigger machines (vertical "
            f"scaling){extra}"
        )
    return where, relief


def _database_relief(
    cid: str, spec: Database, rep: dict[str, Any], util: float
) -> tuple[str, str]:
    """A database's utilization covers all its nodes: name the busiest node."""
    reads = rep.get("read_work_share") or 0.0
    nodes = _nodes(rep)
    if len(nodes) <= 1:
        where = f"{cid} primary at {_pct(util)}, {_pct(reads)} of its work is reads"
        hot = "primary"
    else:
        hot = max(nodes, key=lambda k: nodes[k])
        where = (
            f"{cid} at {_pct(util)} over its {len(nodes)} nodes (busiest: {hot} at "
            f"{_pct(nodes[hot])}), {_pct(reads)} of its work is reads"
        )
    shards = [s.get("utilization") or 0.0 for s in rep.get("shards") or []]
    # where the replicas send reads, when there are replicas
    reads_to = spec.replicas.reads if spec.replicas and spec.replicas.count else None
    if len(shards) > 1 and max(shards) > 1.5 * (sum(shards) / len(shards)):
        i = shards.index(max(shards))
        relief = (
            f"shard {i} is a hotspot ({_pct(shards[i])} against a mean of "
            f"{_pct(sum(shards) / len(shards))}): a shard key or strategy that "
            "spreads the keys evenly (hash, consistent_hash) or more shards"
        )
    elif "replica" in hot:
        relief = (
            "its read replicas are the limit (they serve the reads and apply every "
            "write): more read replicas or a cache would relieve them (database "
            "replication, caching)"
        )
    elif reads_to == "primary" and reads >= 0.5:
        relief = (
            "its reads go to the primary although it has replicas: route reads to "
            "the replicas (reads: replicas) or add a cache"
        )
    elif reads_to == "read_your_writes" and reads >= 0.5:
        relief = (
            "its primary is the limit: read_your_writes sends the reads of clients "
            "whose last write has not reached every replica to the primary: a "
            "shorter lag, a cache, or a bigger primary (vertical scaling) would "
            "relieve it"
        )
    elif reads_to is not None:
        relief = (
            "its primary is the limit and replicas already take the reads, so more "
            "replicas will not help: a bigger primary (vertical scaling) or sharding "
            "spreads the writes"
        )
    elif reads >= 0.5:
        relief = (
            "read replicas or a cache would relieve it (database replication, caching)"
        )
    else:
        relief = (
            "writes dominate, so replicas will not help much: a bigger primary "
            "(vertical scaling) or sharding spreads the writes"
        )
    if rep.get("rejected"):
        relief += (
            f"; {rep['rejected']} queries were refused at the connection limit "
            f"({spec.primary.connections})"
        )
    return where, relief


def required_requests(utilization: float) -> float:
    """Completed requests needed before the tail of a queue at this load settles.

    The relaxation time of a queue grows like 1/(1-rho)^2; 1000/(1-rho)^2 asks for
    4,000 requests at 50% load, 25,000 at 80% and 400,000 at 95% (where p99 from
    10,000 requests is ~25% low, and the mean from 100,000 at 80% is within ~5%).
    """
    rho = min(max(utilization, 0.0), 0.995)
    return 1000.0 / (1.0 - rho) ** 2


def run_warnings(doc: Document, report: dict[str, Any]) -> list[str]:
    out: list[str] = []
    req = report["requests"]
    completed = req["completed"]
    neck = report["bottleneck"]
    util = neck.get("utilization") or 0.0
    duration = report["duration_s"]
    offered_rps = req["offered"] / duration if duration else 0.0
    if req["offered"] == 0 and completed == 0:
        out.append(
            "no requests arrived after the warm-up: the workload's rate (and phases) "
            "gave nothing to measure"
        )
    elif util >= 0.98:
        out.append(
            f"{neck['component']} is saturated ({_pct(util)}): its queue grows for as "
            "long as the run lasts, so latency depends on the run length"
        )
    elif completed < required_requests(util):
        need = required_requests(util)
        out.append(
            f"run too short for its load: {completed} requests completed with "
            f"{neck['component']} at {_pct(util)}; the tail (p99) is likely "
            f"understated below about {need:,.0f} requests: run longer or use "
            "replications"
        )
    if offered_rps > 0 and report["throughput_rps"] < 0.9 * offered_rps:
        lost = 1 - report["throughput_rps"] / offered_rps
        out.append(
            f"{_pct(lost)} of offered requests did not complete "
            f"({req['errors']} errors, {req['timeouts']} timeouts, "
            f"{req['rejected']} rejected, {req['in_flight']} still in flight)"
        )
    if doc.workload.regions and not any(c.region for c in doc.components.values()):
        out.append(
            "workload.regions is set but no component has a region: cross-region "
            "latency never applies"
        )
    return out
