"""Cross-field rules inside one component, per component type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...errors import FieldError
from ..components import Database, Service


def _service(comp: Service, base: str) -> list[FieldError]:
    a = comp.autoscale
    if a is None:
        return []
    if a.min > a.max:
        return [
            FieldError(
                f"{base}.autoscale.min", f"must be <= max ({a.max}) (got {a.min})"
            )
        ]
    if not a.min <= comp.instances <= a.max:
        return [
            FieldError(
                f"{base}.instances",
                f"must lie between autoscale min {a.min} and max {a.max} "
                f"(got {comp.instances})",
            )
        ]
    return []


def _database(comp: Database, base: str) -> list[FieldError]:
    shards = comp.shards
    if shards is None or shards.ranges is None:
        return []
    errors = []
    rng = shards.ranges
    if len(rng) != shards.count - 1:
        errors.append(
            FieldError(
                f"{base}.shards.ranges",
                f"needs count - 1 = {shards.count - 1} upper bounds (got {len(rng)})",
            )
        )
    if list(rng) != sorted(set(rng)):
        errors.append(FieldError(f"{base}.shards.ranges", "bounds must be increasing"))
    return errors


def _cdn(comp: Any, base: str) -> list[FieldError]:
    if comp.region is not None:
        return [
            FieldError(
                f"{base}.region",
                "a cdn has a node in each region it serves: it takes no region",
            )
        ]
    return []


def _none(comp: Any, base: str) -> list[FieldError]:
    return []


#: The cross-field check of each component type.
def _balancer(lb: Any, base: str) -> list[FieldError]:
    if lb.d is not None and lb.algorithm != "power_of_d":
        return [
            FieldError(
                f"{base}.d",
                f"only algorithm power_of_d takes d (got algorithm {lb.algorithm})",
            )
        ]
    if lb.work_ms is None and lb.cores is not None:
        return [
            FieldError(
                f"{base}.cores",
                "only a balancer with work_ms has cores (without it the balancer "
                "is a fixed delay)",
            )
        ]
    return []


COMPONENT_CHECKS: dict[str, Callable[[Any, str], list[FieldError]]] = {
    "load_balancer": _balancer,
    "service": _service,
    "cache": _none,
    "database": _database,
    "queue": _none,
    "cdn": _cdn,
}


def component_errors(comps: dict[str, Any]) -> list[FieldError]:
    """The cross-field errors of every (parsed) component."""
    errors: list[FieldError] = []
    for cid, comp in comps.items():
        errors += COMPONENT_CHECKS[comp.type](comp, f"components.{cid}")
    return errors
