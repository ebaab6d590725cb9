"""Service-level objectives: judging a report against the document's ``objectives``.

Each objective becomes a check ``{objective, bound, limit, value, met}``: ``bound``
is ``"max"`` (the value must not exceed the limit) or ``"min"`` (it must reach it).
The checks carry their own limits, so a combined report (several replications)
is judged again from the first report's checks, without the document; it is
judged on the means, and each check then carries the metric's ``ci95`` so a reader
sees whether the verdict is close.
"""

from __future__ import annotations

from typing import Any

from .document import Objectives

_LATENCY = ("mean", "p50", "p90", "p95", "p99", "max")


def objective_specs(objectives: Objectives | None) -> list[tuple[str, str, float]]:
    """``(objective, bound, limit)`` for every objective the document sets."""
    if objectives is None:
        return []
    specs: list[tuple[str, str, float]] = []
    if objectives.latency_ms is not None:
        for key in _LATENCY:
            limit = getattr(objectives.latency_ms, key)
            if limit is not None:
                specs.append((f"latency_ms.{key}", "max", limit))
    if objectives.error_rate is not None:
        specs.append(("error_rate", "max", objectives.error_rate))
    if objectives.throughput_rps is not None:
        specs.append(("throughput_rps", "min", objectives.throughput_rps))
    if objectives.utilization is not None:
        specs.append(("utilization", "max", objectives.utilization))
    return specs


def judge(specs: list[tuple[str, str, float]], report: dict[str, Any]) -> dict:
    """The ``objectives`` section of a report: every check, and whether all hold."""
    checks = []
    for objective, bound, limit in specs:
        value, component = _value(objective, report)
        if value is None:  # e.g. no request completed: no latency to judge
            met = False
        elif bound == "max":
            met = value <= limit
        else:
            met = value >= limit
        check: dict[str, Any] = {
            "objective": objective,
            "bound": bound,
            "limit": limit,
            "value": value,
            "met": met,
        }
        if component is not None:
            check["component"] = component
        ci = report.get("ci95", {}).get(_ci_path(objective, component))
        if ci is not None:
            check["ci95"] = ci
        checks.append(check)
    return {"met": all(c["met"] for c in checks), "checks": checks}


def error_rate(report: dict[str, Any]) -> float:
    """(errors + timeouts + rejected) / offered requests (0 when none offered)."""
    req = report["requests"]
    offered = req.get("offered") or 0
    if offered <= 0:
        return 0.0
    failed = req.get("errors", 0) + req.get("timeouts", 0) + req.get("rejected", 0)
    return failed / offered


def _value(objective: str, report: dict[str, Any]) -> tuple[float | None, str | None]:
    if objective.startswith("latency_ms."):
        return report["latency_ms"].get(objective.split(".", 1)[1]), None
    if objective == "error_rate":
        return error_rate(report), None
    if objective == "throughput_rps":
        return report["throughput_rps"], None
    # utilization: the busiest component's
    comps = report.get("components") or {}
    if not comps:
        return 0.0, None
    busiest = max(comps, key=lambda c: comps[c].get("utilization") or 0.0)
    return comps[busiest].get("utilization") or 0.0, busiest


def _ci_path(objective: str, component: str | None) -> str:
    if objective == "utilization" and component is not None:
        return f"components.{component}.utilization"
    return objective


def summary_lines(section: dict[str, Any]) -> list[str]:
    """Readable lines for the command line's summary."""
    checks = section["checks"]
    met = sum(c["met"] for c in checks)
    lines = [f"objectives: {met} of {len(checks)} met"]
    for c in checks:
        sign = "<=" if c["bound"] == "max" else ">="
        where = f" ({c['component']})" if c.get("component") else ""
        ci = ""
        if c.get("ci95"):
            lo, hi = c["ci95"]
            ci = f"  (95% CI {format_value(c['objective'], lo)} .. {format_value(c['objective'], hi)})"
        lines.append(
            f"  {'ok  ' if c['met'] else 'MISS'}  {c['objective']} {sign} "
            f"{format_value(c['objective'], c['limit'])}: "
            f"{format_value(c['objective'], c['value'])}{where}{ci}"
        )
    return lines


def format_value(objective: str, value: float | None) -> str:
    """A value or limit of ``objective`` as a person reads it (%, ms, req/s)."""
    if value is None:
        return "-"
    if objective in ("error_rate", "utilization"):
        return f"{value * 100:.3g}%"
    if objective.startswith("latency_ms."):
        return f"{value:,.2f} ms"
    return f"{value:,.1f} req/s"


#: A window is judged on a latency quantile only with this many completed requests
#: in it (fewer make the quantile the window's slowest few), and on its error rate
#: only with this many offered.
_WINDOW_MIN_COMPLETED = {
    "latency_ms.p50": 20,
    "latency_ms.p95": 40,
    "latency_ms.p99": 100,
}
_WINDOW_MIN_OFFERED = 20
#: Judged windows in a row that must hold before a breach is called over.
RECOVER_AFTER_WINDOWS = 3


class WindowWatch:
    """Judges each measured window on the objectives a window can show (p50, p95, p99,
    error rate, throughput, utilization) and logs ``objective_breached`` when one
    starts failing and ``objective_recovered`` once it has held again for
    ``RECOVER_AFTER_WINDOWS`` judged windows in a row."""

    def __init__(self, specs: list[tuple[str, str, float]]) -> None:
        self.specs = [
            s
            for s in specs
            if s[0] in _WINDOW_MIN_COMPLETED
            or s[0] in ("error_rate", "throughput_rps", "utilization")
        ]
        self.breached: dict[str, int] = {}  # objective -> judged windows held since

    def __bool__(self) -> bool:
        return bool(self.specs)

    def check(self, window: dict[str, Any], log: Any) -> None:
        """Judge ``window``; ``log(kind, component, text, **extra)`` records."""
        for objective, bound, limit in self.specs:
            value, component = _window_value(objective, window)
            if value is None:
                continue
            ok = value <= limit if bound == "max" else value >= limit
            sign = "<=" if bound == "max" else ">="
            name = f"{objective} {sign} {format_value(objective, limit)}"
            if not ok:
                if objective not in self.breached:
                    where = f" ({component})" if component else ""
                    log(
                        "objective_breached",
                        component,
                        f"objective broken: {name}, this window "
                        f"{format_value(objective, value)}{where}",
                        objective=objective,
                        value=value,
                        limit=limit,
                    )
                self.breached[objective] = 0
            elif objective in self.breached:
                self.breached[objective] += 1
                if self.breached[objective] >= RECOVER_AFTER_WINDOWS:
                    del self.breached[objective]
                    log(
                        "objective_recovered",
                        None,
                        f"objective holds again: {name}",
                        objective=objective,
                        limit=limit,
                    )


def _window_value(
    objective: str, window: dict[str, Any]
) -> tuple[float | None, str | None]:
    span = window.get("window_s") or 0.0
    completed = window.get("rps", 0.0) * span
    if objective in _WINDOW_MIN_COMPLETED:
        if completed < _WINDOW_MIN_COMPLETED[objective] - 1e-6:
            return None, None
        return window["latency_ms"].get(objective.split(".", 1)[1]), None
    if objective == "error_rate":
        offered = window.get("offered_rps", 0.0) * span
        if offered < _WINDOW_MIN_OFFERED - 1e-6:
            return None, None
        failed = window["errors"] + window["timeouts"] + window["rejected"]
        return min(failed / offered, 1.0), None
    if objective == "throughput_rps":
        return window.get("rps", 0.0), None
    comps = window.get("components") or {}
    loads = {c: w.get("utilization") for c, w in comps.items()}
    loads = {c: u for c, u in loads.items() if u is not None}
    if not loads:
        return None, None
    busiest = max(loads, key=loads.__getitem__)
    return loads[busiest], busiest
