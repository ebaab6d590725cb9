"""Prices: the one default price table, shared by the estimate and the engine's report.

A component's ``cost_per_hour`` is its price per unit (an instance of a balancer or a
service, a cache node, a database node) per hour; without it the unit price comes from
:data:`DEFAULT_PRICES` (roughly public-cloud on-demand prices). Both
:func:`simengine.analytic.estimate` and the engine's report price components with
:func:`unit_price` and :func:`units`, so the two never disagree on the same units.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .document import Database, Document

#: Default prices per hour when a component has no ``cost_per_hour``, per unit named in
#: the key (documented in docs/topology.md, "Prices").
DEFAULT_PRICES = {
    "load_balancer": 0.025,  # per balancer instance
    "service_core": 0.04,  # per core of each instance
    "cache": 0.10,  # per cache node
    "database_core": 0.06,  # per core of each database node
}

#: Default prices of the kinds added to format 1 later, per unit per hour; a report's
#: ``default_prices`` lists one only when its document has that kind (so the reports
#: of documents without it are unchanged).
ADDED_PRICES = {
    "queue": 0.05,  # per queue (a managed broker's queue or topic)
    "cdn": 0.08,  # per region node (an edge location's cache)
}


# The default price of one unit of each component type, per hour.
_DEFAULT_UNIT_PRICE: dict[str, Callable[[Any], float]] = {
    "load_balancer": lambda c: DEFAULT_PRICES["load_balancer"],
    "service": lambda c: DEFAULT_PRICES["service_core"] * c.cores,
    "cache": lambda c: DEFAULT_PRICES["cache"],
    "database": lambda c: DEFAULT_PRICES["database_core"] * c.primary.cores,
    "queue": lambda c: ADDED_PRICES["queue"],
    "cdn": lambda c: ADDED_PRICES["cdn"],
}


def unit_price(comp: Any) -> tuple[float, bool]:
    """Price per unit per hour, and whether the default price table was used."""
    if comp.cost_per_hour is not None:
        return float(comp.cost_per_hour), False
    return _DEFAULT_UNIT_PRICE[comp.type](comp), True


def _database_units(comp: Database, shards: float | None) -> float:
    if shards is None:
        shards = comp.shards.count if comp.shards else 1
    replicas = comp.replicas.count if comp.replicas else 0
    return shards * (comp.primaries + replicas)


# The units of each component type (``shards`` only matters to a database).
_UNITS: dict[str, Callable[[Any, float | None], float]] = {
    "load_balancer": lambda c, shards: float(c.instances),
    "service": lambda c, shards: float(c.instances),
    "cache": lambda c, shards: float(c.nodes),
    "database": _database_units,
    "queue": lambda c, shards: 1.0,
    "cdn": lambda c, shards: float(len(c.regions)),
}


def units(comp: Any, shards: float | None = None) -> float:
    """Units a component is billed for, as the document declares them.

    Instances for balancers and services, nodes for caches, and for databases
    ``shards x (primaries + replicas)``; ``shards`` overrides the declared shard count
    (the engine passes the mean over the run when shards are added mid-run).
    """
    return _UNITS[comp.type](comp, shards)


def _service_run_units(comp: Any, rep: dict[str, Any]) -> float:
    instances = rep.get("instances")
    return float(instances["mean"]) if isinstance(instances, dict) else units(comp)


# The units a run bills, from the component's report: an autoscaled service's mean
# instance count, a rebalanced database's mean shard count; others as declared.
_RUN_UNITS: dict[str, Callable[[Any, dict[str, Any]], float]] = {
    "load_balancer": lambda c, rep: units(c),
    "service": _service_run_units,
    "cache": lambda c, rep: units(c),
    "database": lambda c, rep: units(c, rep.get("shards_mean")),
    "queue": lambda c, rep: units(c),
    "cdn": lambda c, rep: units(c),
}


def cost(comp: Any) -> tuple[float, bool]:
    """Cost per hour of the declared units, and whether the default table was used."""
    price, default = unit_price(comp)
    return units(comp) * price, default


def report_cost(doc: Document, components: dict[str, Any]) -> dict[str, Any]:
    """The report's ``cost`` key from the run's component reports.

    ``default_prices`` repeats the table in the JSON output, so a report says which
    prices it used.

    Autoscaled services are billed for their mean instance count over the measured run
    and rebalanced databases for their mean shard count; everything else as declared.
    """
    total = 0.0
    out: dict[str, Any] = {}
    for cid, comp in doc.components.items():
        rep = components.get(cid) or {}
        n = _RUN_UNITS[comp.type](comp, rep)
        price, default = unit_price(comp)
        per_hour = n * price
        total += per_hour
        out[cid] = {"per_hour": per_hour, "units": n, "default_price": default}
    prices = dict(DEFAULT_PRICES)
    for comp in doc.components.values():
        if comp.type in ADDED_PRICES:
            prices[comp.type] = ADDED_PRICES[comp.type]
    return {
        "per_hour": total,
        "components": out,
        "default_prices": prices,
    }
