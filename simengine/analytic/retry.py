"""Retries in the estimate (``workload.retry``): attempts per request, where the
estimate can say what fails.

An attempt fails in the estimate only by a refusal (a service's ``queue_limit`` or
a database's ``connections``: the M/M/c/K blocking probability p of the stations
that take the clients' requests). With p, a request makes
A = 1 + p + ... + p^max = (1 - p^(max+1)) / (1 - p) attempts and gives up with
probability 1 - A (1 - p) (= p^(max+1)); with a retry budget of beta, A is at most
1 + beta. The attempts load the stations, which raises p: the estimate solves the
fixed point p = blocking(lambda x A(p)), treating re-sends as Poisson arrivals
independent of the state that refused them (true when the backoff is long beside a
service time). With ``backoff_ms: 0`` in front of a single server a refused attempt
is re-sent into the same full queue at the same instant and refused again: A = 1 +
max x p, no extra load, and p of the requests give up.

Where the estimate cannot say what fails, it says so instead of giving a number:
a timeout (whether an attempt times out depends on the response-time tail, and in
an overload the re-sends of abandoned attempts feed the overload: the retry storm
of docs/resilience.md), faults, refusals deeper in the graph than the first
station, and a zero backoff in front of several servers or over a network hop.
"""

from __future__ import annotations

from typing import Any

from ..document import Document
from .network import Node, walk

#: A refused share below this is no refusal (as the estimate's entries say).
_NO_REFUSAL = 0.0005


def _front(doc: Document, nodes: dict[str, Node]) -> list[Node]:
    """The nodes that take the clients' requests: the target, or a balancer's
    target services."""
    target = nodes.get(doc.workload.target)
    if target is None:
        return []
    if target.comp.type == "load_balancer":
        return [nodes[t] for t in target.comp.targets if t in nodes]
    return [target]


def _refused(node: Node) -> tuple[float, float]:
    """(arrivals, arrivals refused) over a node's stations, per second."""
    arrivals = refused = 0.0
    for s in node.stations.values():
        rate = s.read_rps + s.write_rps
        arrivals += rate
        refused += rate * s.blocking
    return arrivals, refused


def failure_probability(doc: Document) -> tuple[float | None, str | None]:
    """The share of attempts refused at the first stations, or (None, why) when
    failures happen deeper too (the estimate does not follow them)."""
    nodes, _ = walk(doc)
    front = _front(doc, nodes)
    arrivals = refused = 0.0
    for node in front:
        a, r = _refused(node)
        arrivals += a
        refused += r
    deeper = [
        cid
        for cid, node in nodes.items()
        if node not in front and _share(node) > _NO_REFUSAL
    ]
    if deeper:
        return None, "refusals at " + ", ".join(deeper) + " (past the first station)"
    return (refused / arrivals if arrivals > 0 else 0.0), None


def _share(node: Node) -> float:
    arrivals, refused = _refused(node)
    return refused / arrivals if arrivals > 0 else 0.0


def scaled(doc: Document, factor: float) -> Document:
    """The document with every arrival rate multiplied by ``factor``."""
    wl = doc.workload
    phases = tuple(p.model_copy(update={"rps": p.rps * factor}) for p in wl.phases)
    workload = wl.model_copy(update={"rps": wl.rps * factor, "phases": phases})
    return doc.model_copy(update={"workload": workload})


def _attempts(p: float, max_retries: int) -> float:
    if p >= 1.0:
        return float(max_retries + 1)
    return (1.0 - p ** (max_retries + 1)) / (1.0 - p)


def retry_attempts(doc: Document) -> tuple[Document, dict[str, Any], str | None]:
    """(the document carrying the attempts, the estimate's ``retry`` section, a
    note). The section is ``{available: False, reason}`` where the estimate cannot
    say; the document is then the one given (each request counted once)."""
    retry = doc.workload.retry
    assert retry is not None

    def unavailable(reason: str) -> tuple[Document, dict[str, Any], str]:
        note = (
            f"Estimate not available with retries: {reason}. The figures above "
            "count every request once (no re-sends), a lower bound on the load; "
            "run it to see the re-sends."
        )
        return doc, {"available": False, "reason": reason}, note

    if doc.workload.timeout_ms is not None and retry.max > 0:
        return unavailable(
            "the re-sends after a timeout depend on the response-time tail "
            "(the chance an attempt outlasts timeout_ms), which the estimate does "
            "not compute, and in an overload they feed it (a retry storm)"
        )
    if doc.faults:
        return unavailable("faults make attempts fail, and they are not modelled")
    p, why = failure_probability(doc)
    if p is None:
        return unavailable(why or "failures the estimate does not follow")
    budget = retry.budget
    target = doc.components.get(doc.workload.target)
    instant = retry.backoff_ms == 0 and retry.max > 0
    if instant and p > 0:
        single = (
            target is not None
            and target.type == "service"
            and getattr(target, "instances", 1) == 1
            and getattr(target, "autoscale", None) is None
            and doc.network.hop_ms == 0
        )
        if not single:
            return unavailable(
                "with backoff_ms 0 a refused attempt is re-sent at once, and where "
                "it lands (another server, after a network hop) is not modelled"
            )
        # re-sent into the same full queue at the same instant: refused again
        attempts = 1.0 + retry.max * p
        if budget is not None:
            attempts = min(attempts, 1.0 + budget)
        # every refused request gives up: its re-sends are refused too
        return doc, _section(doc, p, attempts, gave_up=p, load_factor=1.0), None
    factor = 1.0
    for _ in range(500):
        want = _attempts(p, retry.max)
        if budget is not None:
            want = min(want, 1.0 + budget)
        if abs(want - factor) < 1e-9:
            break
        factor = 0.5 * factor + 0.5 * want
        p, why = failure_probability(scaled(doc, factor))
        if p is None:
            return unavailable(why or "failures the estimate does not follow")
    # each attempt fails with p: failed attempts not re-sent are give-ups
    gave_up = max(1.0 - factor * (1.0 - p), 0.0)
    section = _section(doc, p, factor, gave_up=gave_up, load_factor=factor)
    return scaled(doc, factor), section, None


def _section(
    doc: Document, p: float, attempts: float, *, gave_up: float, load_factor: float
) -> dict[str, Any]:
    rps = doc.workload.rps
    return {
        "available": True,
        "failure_probability": round(p, 6),
        "attempts_per_request": round(attempts, 6),
        "retries_rps": round(rps * (attempts - 1.0), 4),
        "attempts_rps": round(rps * attempts, 4),
        "gave_up_ratio": round(gave_up, 6),
        "load_factor": round(load_factor, 6),
    }
