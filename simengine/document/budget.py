"""Up-front estimates of a run's size, checked against ``Limits`` before it starts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .models import Document

#: A closed workload's think time counts as at least this (s) in the budget.
MIN_CYCLE_S = 0.001


def expected_requests(doc: Document) -> float:
    """Mean number of client requests of one replication (rate integrated over time).

    A closed workload (``users``) counts at most users / think time per second (a
    user's cycle is its think time plus a response): an upper bound."""
    wl = doc.workload
    horizon = doc.simulation.warmup_s + doc.simulation.duration_s
    if wl.users is not None:
        cycle_s = max((wl.users.think_ms.mean or 0.0) / 1000.0, MIN_CYCLE_S)
        points = [(0.0, wl.users.count / cycle_s)] + [
            (p.at_s, (p.users or 0) / cycle_s) for p in wl.phases
        ]
    else:
        points = [(0.0, wl.rps or 0.0)] + [(p.at_s, p.rps or 0.0) for p in wl.phases]
    total = 0.0
    for i, (at, rate) in enumerate(points):
        end = points[i + 1][0] if i + 1 < len(points) else horizon
        end = min(end, horizon)
        if end > at:
            total += rate * (end - at)
    return total


# Events per request at a component of each type, given the cost of a callee.
_EVENTS: dict[str, Callable[[Any, Callable[[str], float]], float]] = {
    "load_balancer": lambda c, cost: 1.0 + max(map(cost, c.targets), default=1.0),
    "service": lambda c, cost: 2.0 + sum(1.0 + cost(x) for x in c.callees),
    "cache": lambda c, cost: 2.0 + cost(c.backing),
    "database": lambda c, cost: 2.0,
    # the publish's answer, then the message's dispatch and its consumer
    "queue": lambda c, cost: 3.0 + cost(c.consumers),
    "cdn": lambda c, cost: 2.0 + cost(c.origin),
}


def events_per_request(doc: Document) -> float:
    """A generous estimate of calendar events per client request (for the budget)."""
    comps = doc.components
    memo: dict[str, float] = {}

    def cost(cid: str, depth: int = 0) -> float:
        if cid in memo:
            return memo[cid]
        if depth > len(comps) + 1 or cid not in comps:
            return 1.0
        comp = comps[cid]
        c = _EVENTS[comp.type](comp, lambda callee: cost(callee, depth + 1))
        memo[cid] = c
        return c

    return 1.0 + cost(doc.workload.target)
