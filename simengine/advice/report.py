"""The run report's side of the advisor: its components as ``Load``s, and warnings.

``runner`` calls ``bottleneck(doc, components)`` and ``run_warnings(doc, report)``;
the wording lives in ``advisor`` (shared with the instant estimate).
"""

from __future__ import annotations

from typing import Any

from ..document import Document
from .advisor import SATURATED_UTILIZATION, Load, advise, pct


def _nodes(rep: dict[str, Any]) -> dict[str, float]:
    nodes = rep.get("nodes")
    if not isinstance(nodes, dict):  # a cache reports its node count
        return {}
    return {
        name: n["utilization"]
        for name, n in nodes.items()
        if isinstance(n, dict) and n.get("utilization") is not None
    }


def component_load(rep: dict[str, Any]) -> float | None:
    """A component's utilization, or its busiest node's (a database's utilization
    averages its nodes, so a saturated primary beside idle replicas would hide);
    None when not measured (a balancer or a cache has no capacity of its own)."""
    return report_load(rep, duration_s=None).peak


def busiest(components: dict[str, Any]) -> str | None:
    """The component with the highest ``component_load``, skipping the ones not
    measured (None); the first one listed wins a tie. For ranking combined
    replications (``max(comps, key=component_load)`` would compare None)."""
    loads = {cid: component_load(rep) for cid, rep in components.items()}
    measured = [cid for cid, load in loads.items() if load is not None]
    return max(measured, key=lambda cid: loads[cid], default=None)


def report_load(rep: dict[str, Any], duration_s: float | None) -> Load:
    """A run report's component entry as the advisor's ``Load``."""
    shards = [s.get("utilization") for s in rep.get("shards") or []]
    refused = 0.0
    rejected = rep.get("rejected") or 0
    if rejected and duration_s:
        served = (rep.get("throughput_rps") or 0.0) * duration_s
        refused = rejected / (rejected + served)
    return Load(
        utilization=rep.get("utilization"),
        read_share=rep.get("read_work_share"),
        nodes=_nodes(rep),
        shards=tuple(shards) if None not in shards else (),
        refused_share=refused,
    )


def bottleneck(doc: Document, components: dict[str, Any]) -> dict[str, Any]:
    """The report's ``bottleneck``: the most utilized component and, in one
    paragraph, the advisor's finding and what would relieve it."""
    duration = doc.simulation.duration_s
    finding = advise(
        doc, {cid: report_load(rep, duration) for cid, rep in components.items()}
    )
    return {
        "component": finding.component,
        "utilization": finding.utilization,
        "advice": finding.text,
    }


def required_requests(utilization: float) -> float:
    """Completed requests needed before the tail of a queue at this load settles.

    The relaxation time of a queue grows like 1/(1-rho)^2; 1000/(1-rho)^2 asks for
    4,000 requests at 50% load, 25,000 at 80% and 400,000 at 95% (where p99 from
    10,000 requests is ~25% low, and the mean from 100,000 at 80% is within ~5%).
    """
    rho = min(max(utilization, 0.0), 0.995)
    return 1000.0 / (1.0 - rho) ** 2


def run_warnings(doc: Document, report: dict[str, Any]) -> list[str]:
    """What makes a run's numbers less trustworthy than they look."""
    out: list[str] = []
    req = report["requests"]
    completed = req["completed"]
    neck = report["bottleneck"]
    util = neck.get("utilization") or 0.0
    busiest = neck.get("component") or "the busiest component"
    duration = report["duration_s"]
    offered_rps = req["offered"] / duration if duration else 0.0
    if req["offered"] == 0 and completed == 0:
        out.append(
            "no requests arrived after the warm-up: the workload's rate (and phases) "
            "gave nothing to measure"
        )
    elif util >= SATURATED_UTILIZATION:
        out.append(
            f"{busiest} is saturated ({pct(util)}): its queue grows for as long as "
            "the run lasts, so latency depends on the run length"
        )
    elif completed < required_requests(util):
        need = required_requests(util)
        out.append(
            f"run too short for its load: {completed} requests completed with "
            f"{busiest} at {pct(util)}; the tail (p99) is likely understated below "
            f"about {need:,.0f} requests: run longer or use replications"
        )
    if offered_rps > 0 and report["throughput_rps"] < 0.9 * offered_rps:
        lost = 1 - report["throughput_rps"] / offered_rps
        out.append(
            f"{pct(lost)} of offered requests did not complete "
            f"({req['errors']} errors, {req['timeouts']} timeouts, "
            f"{req['rejected']} rejected"
            + (
                f" ({req['rate_limited']} of them rate limited, 429)"
                if "rate_limited" in req
                else ""
            )
            + f", {req['in_flight']} still in flight)"
        )
    out.extend(_orphaned_work(report))
    out.extend(_retry_load(report))
    out.extend(_caches_warming(report))
    out.extend(_queues_growing(report))
    if doc.workload.regions and not any(c.region for c in doc.components.values()):
        out.append(
            "workload.regions is set but no component has a region: cross-region "
            "latency never applies"
        )
    return out


def _queues_growing(report: dict[str, Any]) -> list[str]:
    """Queues whose consumers did not keep up: more messages stayed than a few."""
    out = []
    duration = report["duration_s"] or 0.0
    for cid, rep in report.get("components", {}).items():
        if rep.get("type") != "queue" or not duration:
            continue
        published = rep.get("published") or 0
        accepted = published - (rep.get("rejected") or 0) - (rep.get("dropped") or 0)
        left = accepted - (rep.get("consumed") or 0) - (rep.get("errors") or 0)
        waiting = rep.get("waiting_at_end") or 0
        if waiting and left > max(0.02 * published, (rep.get("concurrency") or 1) + 10):
            out.append(
                f"queue {cid} grew: its consumers took {rep['consumed'] / duration:,.1f}"
                f" of {published / duration:,.1f} messages/s, and {waiting:,} were "
                "still waiting at the end; its depth and lag depend on the run length "
                "(raise its concurrency or its consumers' capacity)"
            )
    return out


#: Below this many measured windows a trend in the hit ratio is not judged.
WARMING_MIN_WINDOWS = 8
#: A hit ratio still rising by more than this over the run's last half is "warming".
WARMING_MIN_RISE = 0.02
#: ... and rising that clearly: the slope's t statistic (noise gives |t| < 3).
WARMING_MIN_T = 4.0


def _orphaned_work(report: dict[str, Any]) -> list[str]:
    """Servers that finished much more than the clients received: requests whose
    clients gave up (timed out) while their servers kept working on them."""
    timeouts = report["requests"].get("timeouts", 0)
    completed_rps = report["throughput_rps"]
    if timeouts == 0:
        return []
    out = []
    for cid, rep in report.get("components", {}).items():
        if rep.get("type") != "service":
            continue
        served = rep.get("throughput_rps") or 0.0
        if served > 1.05 * completed_rps and served - completed_rps >= 1.0:
            out.append(
                f"{cid} served {served:,.1f} req/s but only {completed_rps:,.1f} req/s "
                f"reached their clients: {timeouts:,} requests timed out at the client "
                "while the servers kept working on them (wasted work that adds to the "
                "queue); a queue_limit on the service would refuse them early instead"
            )
    return out


#: Attempts per request from which the re-sends are worth a warning.
RETRY_WARN_ATTEMPTS = 1.5


def _retry_load(report: dict[str, Any]) -> list[str]:
    """Clients whose re-sends (workload.retry) multiplied the load on the servers."""
    req = report["requests"]
    if "attempts" not in req or not req["offered"]:
        return []
    per_request = req["attempts"] / req["offered"]
    if per_request < RETRY_WARN_ATTEMPTS:
        return []
    duration = report["duration_s"]
    attempts_rps = req["attempts"] / duration if duration else 0.0
    return [
        f"clients made {per_request:.1f} attempts per request ({req['retries']:,} "
        f"re-sends, {attempts_rps:,.1f} attempts/s at the servers): retries "
        "multiplied the load; when that outlasts its cause it is a retry storm "
        "(docs/resilience.md: a retry budget or a queue_limit breaks it)"
    ]


def _slope_t(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares slope of ys on xs and its t statistic (0, 0 when undefined)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0, 0.0
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    resid = sum((y - my - slope * (x - mx)) ** 2 for x, y in zip(xs, ys, strict=True))
    if n <= 2 or resid == 0:
        return slope, (float("inf") if slope > 0 else 0.0)
    se = (resid / (n - 2) / sxx) ** 0.5
    return slope, slope / se


def _caches_warming(report: dict[str, Any]) -> list[str]:
    """Caches whose hit ratio was still rising over the last half of the run: the
    measured latency and database load are those of a cache not yet warm."""
    out = []
    timeline = report.get("timeline") or []
    for cid, rep in report.get("components", {}).items():
        if rep.get("type") != "cache":
            continue
        points = [
            (w["t_s"], w["components"][cid]["hit_ratio"])
            for w in timeline
            if cid in w.get("components", {})
            and w["components"][cid].get("hit_ratio") is not None
        ]
        half = points[len(points) // 2 :]
        if len(half) < WARMING_MIN_WINDOWS // 2 or len(points) < WARMING_MIN_WINDOWS:
            continue
        xs, ys = [p[0] for p in half], [p[1] for p in half]
        slope, t = _slope_t(xs, ys)
        rise = slope * (xs[-1] - xs[0])
        if rise > WARMING_MIN_RISE and t > WARMING_MIN_T:
            out.append(
                f"cache {cid} was still warming up at the end of the run: its hit "
                f"ratio rose by {pct(rise)} over the last half (to about "
                f"{pct(ys[-1])}), so latency and the load behind it are those of a "
                "cold cache; run longer or make the warm-up longer"
            )
    return out
