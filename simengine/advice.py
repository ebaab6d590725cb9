"""The bottleneck, in plain words tied to the seed's techniques, and run warnings."""

from __future__ import annotations

from typing import Any

from .document import Database, Document, LoadBalancer, Service


def _pct(x: float) -> str:
    return f"{round(100 * x)}%"


def bottleneck(doc: Document, components: dict[str, Any]) -> dict[str, Any]:
    """The most utilized component and what would relieve it."""
    if not components:
        return {"component": None, "utilization": 0.0, "advice": "nothing to measure"}
    cid = max(components, key=lambda c: components[c].get("utilization") or 0.0)
    rep = components[cid]
    util = rep.get("utilization") or 0.0
    spec = doc.components[cid]
    behind_lb = any(
        isinstance(c, LoadBalancer) and cid in c.targets
        for c in doc.components.values()
    )
    if util < 0.5:
        advice = (
            f"{cid} is the busiest component at {_pct(util)}: every component has "
            "headroom at this load"
        )
    elif isinstance(spec, Service):
        n = spec.instances
        where = (
            f"{cid} at {_pct(util)} ({n} instance{'s' * (n != 1)} x {spec.cores} cores)"
        )
        if spec.scaling and (spec.scaling.contention or spec.scaling.coherency):
            extra = (
                "; its contention limits what more cores per machine buy, so prefer "
                "more instances"
            )
        else:
            extra = ""
        if behind_lb:
            advice = (
                f"{where}: add instances behind the load balancer (horizontal "
                f"scaling) or give each more or faster cores (vertical scaling){extra}"
            )
        elif spec.autoscale is None and n == 1:
            advice = (
                f"{where}: a single server is the limit and a single point of "
                "failure: put a load balancer in front and run several instances "
                f"(horizontal scaling), or a bigger machine (vertical scaling){extra}"
            )
        else:
            advice = (
                f"{where}: add instances (horizontal scaling) or bigger machines "
                f"(vertical scaling){extra}"
            )
        if spec.calls and any(
            isinstance(doc.components[c], Database) for c in spec.calls
        ):
            pass
    elif isinstance(spec, Database):
        reads = rep.get("read_work_share") or 0.0
        where = f"{cid} primary at {_pct(util)}, {_pct(reads)} of its work is reads"
        if reads >= 0.5:
            advice = (
                f"{where}: read replicas or a cache would relieve it (database "
                "replication, caching)"
            )
        else:
            advice = (
                f"{where}: writes dominate, so replicas will not help much: a bigger "
                "primary (vertical scaling) or sharding spreads the writes"
            )
        if rep.get("rejected"):
            advice += (
                f"; {rep['rejected']} queries were refused at the connection limit "
                f"({spec.primary.connections})"
            )
    else:
        advice = f"{cid} at {_pct(util)}"
    return {"component": cid, "utilization": util, "advice": advice}


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
