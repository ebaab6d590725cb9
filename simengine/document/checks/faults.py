"""Faults: each must name something that exists and that it can act on.

A fault that validates must do something when it fires: a node or instance the
component does not have, or a start time after the run ends, is refused on its
field (``faults[0].node: 'db' has no shards: use primary (got 'shard-0')``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from ...errors import FieldError
from ..components import Cache, Database
from ..models import Fault, Simulation

_DB_NODE = re.compile(r"(replica|shard)-(\d+)")


def _span(name: str, count: int) -> str:
    return f"{name}-0" if count == 1 else f"{name}-0..{count - 1}"


def _database_nodes(comp: Database) -> str:
    """The nodes a fault on this database can name, in words."""
    names = ["primary"]
    if comp.replicas and comp.replicas.count:
        names.append(_span("replica", comp.replicas.count))
    if comp.shards is not None:
        names.append(_span("shard", comp.shards.count))
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _database_node_error(node: Any, comp: Database, cid: str) -> str | None:
    """Why ``node`` names no node of the database (None when it does)."""
    if node == "primary":
        return None
    match = _DB_NODE.fullmatch(node) if isinstance(node, str) else None
    if match is None:
        return f"must be {_database_nodes(comp)} of {cid!r} (got {node!r})"
    kind, index = match.group(1), int(match.group(2))
    if kind == "shard" and comp.shards is None:
        return f"{cid!r} has no shards: use {_database_nodes(comp)} (got {node!r})"
    count = (
        (comp.replicas.count if comp.replicas else 0)
        if kind == "replica"
        else comp.shards.count  # type: ignore[union-attr]
    )
    if index >= count:
        if count == 0:
            return (
                f"{cid!r} has no replicas: use {_database_nodes(comp)} (got {node!r})"
            )
        return f"{cid!r} has {_span(kind, count)} (got {node!r})"
    return None


def _instances(fault: Fault, comp: Any, base: str) -> list[FieldError]:
    errors = []
    if fault.node is not None:
        errors.append(
            FieldError(f"{base}.node", f"not used for a {comp.type}; use instance")
        )
    count = comp.instance_count()
    if fault.instance is not None and fault.instance >= count:
        errors.append(
            FieldError(
                f"{base}.instance",
                f"{fault.component!r} has instances 0..{count - 1} "
                f"(got {fault.instance})",
            )
        )
    return errors


def _database(fault: Fault, comp: Database, base: str) -> list[FieldError]:
    errors = []
    if fault.instance is not None:
        errors.append(
            FieldError(f"{base}.instance", "not used for a database; use node")
        )
    node = fault.node if fault.node is not None else "primary"
    problem = _database_node_error(node, comp, fault.component)
    if problem is not None:
        errors.append(FieldError(f"{base}.node", problem))
    return errors


def _cache(fault: Fault, comp: Cache, base: str) -> list[FieldError]:
    errors = []
    if fault.instance is not None:
        errors.append(FieldError(f"{base}.instance", "not used for a cache; use node"))
    node = fault.node if fault.node is not None else 0
    if not isinstance(node, int) or node >= comp.nodes:
        errors.append(
            FieldError(
                f"{base}.node",
                f"must be a node index 0..{comp.nodes - 1} (got {node!r})",
            )
        )
    return errors


#: The fault check of each component type.
FAULT_CHECKS: dict[str, Callable[[Fault, Any, str], list[FieldError]]] = {
    "load_balancer": _instances,
    "service": _instances,
    "cache": _cache,
    "database": _database,
}


def fault_errors(
    faults: Iterable[tuple[int, Fault]],
    comps: dict[str, Any],
    simulation: Simulation | None,
) -> list[FieldError]:
    """The errors of each parsed fault whose component parsed (a missing component
    is a reference error)."""
    errors: list[FieldError] = []
    horizon = simulation.warmup_s + simulation.duration_s if simulation else None
    for i, fault in faults:
        base = f"faults[{i}]"
        if horizon is not None and fault.at_s >= horizon:
            errors.append(
                FieldError(
                    f"{base}.at_s",
                    f"must be before the run ends at warmup_s + duration_s = "
                    f"{horizon:g} s (got {fault.at_s:g})",
                )
            )
        comp = comps.get(fault.component)
        if comp is not None and comp.type not in FAULT_CHECKS:
            # a kind without a fault check cannot fail (a queue's broker)
            errors.append(
                FieldError(
                    f"{base}.component",
                    f"a {comp.type} cannot fail; faults apply to: "
                    + ", ".join(sorted(FAULT_CHECKS)),
                )
            )
        elif comp is not None:
            errors += FAULT_CHECKS[comp.type](fault, comp, base)
    return errors
