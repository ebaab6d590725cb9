"""``simulation.precision``: its metric must be one a report gives an interval for."""

from __future__ import annotations

from ...errors import FieldError
from ..models import Document

#: Report metrics a precision may ask for, besides components.<id>.utilization.
PRECISION_METRICS = (
    "latency_ms.mean",
    "latency_ms.p50",
    "latency_ms.p90",
    "latency_ms.p95",
    "latency_ms.p99",
    "latency_ms.max",
    "throughput_rps",
)
#: Component types whose utilization is measured (a balancer or a cache has none).
_MEASURED = ("service", "database")


def precision_errors(doc: Document) -> list[FieldError]:
    precision = doc.simulation.precision
    if precision is None:
        return []
    metric = precision.metric
    if metric in PRECISION_METRICS:
        return []
    parts = metric.split(".")
    if len(parts) == 3 and parts[0] == "components" and parts[2] == "utilization":
        comp = doc.components.get(parts[1])
        if comp is not None and comp.type in _MEASURED:
            return []
        if comp is not None:
            why = f"a {comp.type} has no utilization of its own"
        else:
            why = f"no component {parts[1]!r} in the document"
        return [FieldError("simulation.precision.metric", f"{why} (got {metric!r})")]
    choices = ", ".join(PRECISION_METRICS)
    return [
        FieldError(
            "simulation.precision.metric",
            f"must be one of {choices} or components.<id>.utilization (got {metric!r})",
        )
    ]
