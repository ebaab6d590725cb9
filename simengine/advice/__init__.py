"""Bottleneck advice: one advisor for the run report and the instant estimate.

- ``advisor``: ``Load`` (a component's load, however it was found), ``advise`` (the
  finding and what would relieve it), the utilization levels;
- ``report``: the run report's entry points, ``bottleneck`` and ``run_warnings``.
"""

from __future__ import annotations

from .advisor import (
    ALL_FINE,
    HOT_UTILIZATION,
    RELIEF,
    SATURATED_UTILIZATION,
    WARN_UTILIZATION,
    Finding,
    Load,
    advise,
)
from .report import (
    bottleneck,
    busiest,
    component_load,
    report_load,
    required_requests,
    run_warnings,
)

__all__ = [
    "ALL_FINE",
    "HOT_UTILIZATION",
    "RELIEF",
    "SATURATED_UTILIZATION",
    "WARN_UTILIZATION",
    "Finding",
    "Load",
    "advise",
    "bottleneck",
    "busiest",
    "component_load",
    "report_load",
    "required_requests",
    "run_warnings",
]
