"""The one advisor: the bottleneck, in plain words tied to the seed's techniques.

A run (``simengine.advice.report``) and the instant estimate (``simengine.analytic``)
describe each component's load the same neutral way, as a ``Load``, and ``advise``
words the finding; so a run and an estimate never word one situation two ways.

The wording has three levels, by the busiest component's utilization:

- no work at all (nothing arrives): "Nothing is under pressure", and nothing to do;
- below ``WARN_UTILIZATION`` (70%): "Nothing is under pressure", the busiest component
  and what would relieve it *if the load grows*, never an instruction to scale now;
- from 70%: the bottleneck, how close it is to saturation, what would relieve it, and
  how much (instances, replicas, cores) would bring it back under 70%.

What relieves a component depends on its kind, through ``RELIEF`` (type -> function);
a kind without an entry (a cache) has no capacity of its own and is never the
bottleneck, whatever utilization it reports; a balancer is one only with ``work_ms``
(without it, its utilization is None).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..document import Document

#: Below this, every component has headroom; the estimate colours it amber from here.
WARN_UTILIZATION = 0.7
#: Red in the estimate's colours.
HOT_UTILIZATION = 0.9
#: From here a run calls a component saturated (its queue grows for as long as it runs).
SATURATED_UTILIZATION = 0.98

#: The first words of the "all fine" findings.
ALL_FINE = "Nothing is under pressure"


@dataclass(frozen=True)
class Load:
    """One component's load, as a run measured it or the estimate worked it out.

    ``utilization`` is busy core-time over available core-time (0..1; the estimate's
    offered load can exceed 1), or None when not measured (no capacity of its own).
    ``nodes`` holds each node's utilization (a database's primary, replicas,
    shards), ``shards`` each shard's, in order. ``read_share`` is the share of its
    work spent on reads; ``refused_share`` the share of its arrivals refused at its
    queue or connection limit.
    """

    utilization: float | None
    read_share: float | None = None
    nodes: Mapping[str, float] = field(default_factory=dict)
    shards: tuple[float, ...] = ()
    refused_share: float = 0.0

    @property
    def peak(self) -> float | None:
        """The component's utilization or its busiest node's, whichever is higher
        (a database's utilization averages its nodes: a saturated primary beside
        idle replicas would hide); None when nothing is measured."""
        values = [u for u in (self.utilization, *self.nodes.values()) if u is not None]
        return max(values) if values else None

    @property
    def busiest_node(self) -> str | None:
        if not self.nodes:
            return None
        return max(self.nodes, key=lambda name: self.nodes[name])


@dataclass(frozen=True)
class Finding:
    """What the advisor says: ``why`` (the finding) and ``advice`` (the relief)."""

    component: str | None
    node: str | None  # a database's busiest node
    utilization: float  # the component's peak load; 0.0 when nothing is measured
    why: str
    advice: str

    @property
    def text(self) -> str:
        """Both in one paragraph (a run report's ``bottleneck.advice``)."""
        return f"{self.why} {self.advice}".strip()


@dataclass(frozen=True)
class Relief:
    """What a kind says of its component: where it stands (``where``), a noun phrase
    for what would relieve it (``remedy``), an optional fact behind it (``note``),
    how much would bring it back under 70% (``sizing``, said only under pressure),
    what it refuses (``fact``) and closing hints (``hint``)."""

    where: str
    remedy: str
    note: str = ""
    sizing: str = ""
    fact: str = ""
    hint: str = ""


#: A component refusing this share of its arrivals is under pressure, however
#: little of its capacity it uses on average (bursts fill its queue or connections).
REFUSING_SHARE = 0.01


def pct(x: float) -> str:
    return f"{round(100 * x)}%"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def _growth(util: float) -> str:
    """How far the load can grow before the component saturates (1/util)."""
    x = 1.0 / util if util > 1e-3 else math.inf
    if x > 1000:
        return "only beyond 1,000x this load"
    return f"near {x:,.1f}x this load" if x >= 2 else f"near {x:.2f}x this load"


def needed(current: int, util: float, target: float = WARN_UTILIZATION) -> int:
    """How many (instances, replicas) bring ``util`` over ``current`` under target."""
    return max(current + 1, math.ceil(current * util / target))


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def advise(doc: Document, loads: Mapping[str, Load]) -> Finding:
    """The bottleneck of ``loads`` (component id -> Load) and what would relieve
    it. Ties go to the component listed first in the document."""
    ranked = {
        cid: loads[cid].peak
        for cid, spec in doc.components.items()
        if cid in loads
        and loads[cid].peak is not None
        and spec.type in RELIEF
        and HAS_CAPACITY.get(spec.type, _always)(spec)
    }
    if not ranked:
        return Finding(
            None,
            None,
            0.0,
            "Nothing measured: no component has a capacity of its own.",
            "",
        )
    cid = max(ranked, key=lambda c: ranked[c])
    util = ranked[cid]
    load = loads[cid]
    spec = doc.components[cid]
    node = load.busiest_node
    if util <= 0:
        return Finding(
            cid,
            node,
            0.0,
            f"{ALL_FINE}: no component is busy at this load.",
            "There is nothing to relieve; a higher rate (or more work per request) "
            "shows what saturates first.",
        )
    relief = RELIEF[spec.type](doc, cid, spec, load, util)
    note = f"{relief.note}: " if relief.note else ""
    fact = f" {relief.fact}" if relief.fact else ""
    hint = f" {relief.hint}" if relief.hint else ""
    if util < WARN_UTILIZATION and load.refused_share < REFUSING_SHARE:
        why = (
            f"{ALL_FINE}: every component has headroom at this load; the busiest is "
            f"{relief.where}.{fact}"
        )
        advice = (
            f"If the load grows, {cid} saturates first ({_growth(util)}, if its "
            f"work grows with it); then {note}{relief.remedy} would "
            f"relieve it.{hint}"
        )
        return Finding(cid, node, util, why, advice)
    if util >= SATURATED_UTILIZATION:
        why = f"{cid} is the bottleneck and saturated: {relief.where}.{fact}"
    else:
        why = (
            f"{cid} is the bottleneck: {relief.where}; it saturates "
            f"{_growth(util)}.{fact}"
        )
    sizing = f"; {relief.sizing}" if relief.sizing else ""
    advice = _capitalized(f"{note}{relief.remedy} would relieve it{sizing}.{hint}")
    return Finding(cid, node, util, why, advice)


def _refusals(load: Load, what: str, limit: str, field: str) -> tuple[str, str]:
    """The refused share as a fact, and the hint that goes with it."""
    if load.refused_share < 0.001:
        return "", ""
    return (
        f"It refuses {load.refused_share:.1%} of its {what} at its {limit}.",
        f"A higher {field} would let bursts wait rather than fail.",
    )


def _service(doc: Document, cid: str, spec: Any, load: Load, util: float) -> Relief:
    n = spec.instances
    where = f"{cid} at {pct(util)} ({_plural(n, 'instance')} x {_plural(spec.cores, 'core')})"
    behind_lb = any(
        c.type == "load_balancer" and cid in c.targets for c in doc.components.values()
    )
    contention = spec.scaling is not None and (
        spec.scaling.contention or spec.scaling.coherency
    )
    need = needed(n, util)
    sizing = f"{need} instances instead of {n} would bring it to about {pct(util * n / need)}"
    note = ""
    if contention:
        note = "its contention limits what more cores per instance buy"
        remedy = (
            "more instances behind the load balancer (horizontal scaling)"
            if behind_lb
            else "more instances behind a load balancer (horizontal scaling)"
        )
    elif behind_lb:
        remedy = (
            "more instances behind the load balancer (horizontal scaling) or more or "
            "faster cores each (vertical scaling)"
        )
    elif spec.autoscale is None and n == 1:
        note = "a single server is the limit and a single point of failure"
        remedy = (
            "a load balancer in front of several instances (horizontal scaling) or a "
            "bigger machine (vertical scaling)"
        )
    else:
        remedy = (
            "more instances (horizontal scaling) or bigger machines (vertical scaling)"
        )
    fact, hint = _refusals(
        load, "requests", f"queue limit ({spec.queue_limit})", "queue_limit"
    )
    extras = [hint] if hint else []
    if spec.stateful:
        extras.append(
            "It keeps sessions on its instances: a stateless service spreads over "
            "more instances."
        )
    for qid, q in doc.components.items():
        if q.type == "queue" and q.consumers == cid:
            extras.append(
                f"It consumes queue {qid}, which hands it {q.concurrency} "
                "message(s) at a time: more instances need a higher concurrency "
                "on the queue too."
            )
    calls = [doc.components[c].type for c in spec.callees if c in doc.components]
    if "database" in calls and "cache" not in calls:
        extras.append("A cache in front of its database would also remove read work.")
    return Relief(where, remedy, note, sizing, fact, " ".join(extras))


def _database(doc: Document, cid: str, spec: Any, load: Load, util: float) -> Relief:
    reads = load.read_share
    reads_text = "" if reads is None else f", {pct(reads)} of its work is reads"
    reads = reads or 0.0
    nodes = dict(load.nodes)
    hot = load.busiest_node or "primary"
    if len(nodes) <= 1:
        where = f"{cid} primary at {pct(util)}{reads_text}"
    else:
        where = (
            f"{cid} at {pct(load.utilization or 0.0)} over its {len(nodes)} nodes "
            f"(busiest: {hot} at {pct(nodes[hot])}){reads_text}"
        )
    replicas = spec.replicas.count if spec.replicas else 0
    reads_to = spec.replicas.reads if replicas else None
    has_cache = any(
        c.type == "cache" and c.backing == cid for c in doc.components.values()
    )
    cache = "a larger cache" if has_cache else "a cache"
    cores = spec.primary.cores
    bigger = max(cores * 2, math.ceil(cores * util / WARN_UTILIZATION))
    primary_sizing = (
        f"a primary of {bigger} cores instead of {cores} would bring it to about "
        f"{pct(util * cores / bigger)}"
    )
    shards = list(load.shards)
    mean = sum(shards) / len(shards) if shards else 0.0
    note, sizing = "", ""
    if len(shards) > 1 and max(shards) > 1.5 * mean:
        i = shards.index(max(shards))
        note = (
            f"shard {i} is a hotspot ({pct(shards[i])} against a mean of {pct(mean)})"
        )
        remedy = (
            "a shard key or strategy that spreads the keys evenly (hash, "
            "consistent_hash) or more shards"
        )
    elif "replica" in hot:
        note = (
            "its read replicas are its busiest nodes (they serve the reads and apply "
            "every write)"
        )
        remedy = f"more read replicas or {cache} (database replication, caching)"
        need = needed(replicas, util)
        sizing = f"for instance {need} replicas instead of {replicas}"
    elif reads_to == "primary" and reads >= 0.5:
        note = "its reads go to the primary although it has replicas"
        remedy = f"reads routed to the replicas (reads: replicas) or {cache}"
    elif reads_to == "read_your_writes" and reads >= 0.5:
        note = (
            "with read_your_writes, the reads of clients whose last write has not "
            "reached every replica go to the primary"
        )
        remedy = f"a shorter lag, {cache}, or a bigger primary (vertical scaling)"
    elif reads_to is not None:
        note = (
            "its primary is the limit and replicas already take the reads, so more "
            "replicas will not help"
        )
        remedy = "a bigger primary (vertical scaling) or sharding to spread the writes"
        sizing = primary_sizing
    elif reads >= 0.5:
        note = "its reads can be spread or avoided"
        remedy = f"read replicas or {cache} (database replication, caching)"
    else:
        note = "writes dominate, so replicas will not help much"
        remedy = "a bigger primary (vertical scaling) or sharding to spread the writes"
        sizing = primary_sizing
    fact, hint = _refusals(
        load,
        "queries",
        f"connection limit ({spec.primary.connections})",
        "connection limit (primary.connections)",
    )
    return Relief(where, remedy, note, sizing, fact, hint)


def _balancer(doc: Document, cid: str, spec: Any, load: Load, util: float) -> Relief:
    """A balancer with ``work_ms`` (only then is its utilization measured)."""
    n, cores = spec.instances, spec.cores or 1
    where = (
        f"{cid} at {pct(util)} ({_plural(n, 'balancer instance')} x "
        f"{_plural(cores, 'core')}, its own work_ms per request)"
    )
    need = needed(n, util)
    sizing = (
        f"{need} balancer instances instead of {n} would bring it to about "
        f"{pct(util * n / need)}"
    )
    remedy = (
        "more balancer instances or cores (instances, cores), or less work per "
        "request at the balancer (work_ms: e.g. TLS or layer-7 rules moved off it)"
    )
    return Relief(where, remedy, "", sizing)


#: What relieves a component, by its ``type``; kinds absent have no capacity of
#: their own (a cache is a delay) and are never the bottleneck. A balancer is a
#: candidate only when it has ``work_ms`` (otherwise its utilization is None).
RELIEF: dict[str, Callable[[Document, str, Any, Load, float], Relief]] = {
    "service": _service,
    "database": _database,
    "load_balancer": _balancer,
}


def _always(spec: Any) -> bool:
    return True


#: Kinds of ``RELIEF`` that have a capacity only when configured so: a balancer
#: only with ``work_ms`` (older reports carry 0.0 for one without: not a candidate).
HAS_CAPACITY: dict[str, Callable[[Any], bool]] = {
    "load_balancer": lambda spec: spec.work_ms is not None,
}
