"""A report's timeline for people: chart series, export rows, the component table.

Everything here reads a report as `simengine` writes it (docs/engine.md, "The
snapshot": a report `timeline` entry is a measured snapshot without its stream
fields) and nothing else: the run page's snapshots (RunSnapshot rows) are never read,
so a run with 10,000 stored snapshots costs the report page what its report costs.

- `chart_series(report)`: the timeline downsampled to at most `MAX_CHART_POINTS`
  points (consecutive windows grouped: rates averaged over the group's time, each
  latency percentile the highest of the group, so a spike is never averaged away).
- `export_columns(report)` / `export_rows(report)`: one row per window, every window,
  the columns of docs/runs.md ("Exports").
- `component_rows(report)`: one row per component for the report page.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

#: Points per series on the report page's charts at most.
MAX_CHART_POINTS = 2000

#: Per-second rates of a window (the snapshot contract).
RATE_KEYS = ("rps", "offered_rps", "errors_rps", "timeouts_rps", "rejected_rps")
PERCENTILES = ("p50", "p95", "p99")
#: The overall columns of an export, in order.
WINDOW_COLUMNS = ("t_s", "window_s", *RATE_KEYS, *PERCENTILES)
#: A component's columns of an export, in order (those its windows carry).
COMPONENT_KEYS = (
    "utilization",
    "throughput_rps",
    "queue_mean",
    "instances",
    "hit_ratio",
)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def windows(report: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The report's timeline windows (mappings only; anything else is skipped)."""
    if not isinstance(report, Mapping):
        return []
    timeline = report.get("timeline")
    if not isinstance(timeline, list):
        return []
    return [w for w in timeline if isinstance(w, Mapping)]


def _percentile(window: Mapping[str, Any], key: str) -> float | None:
    latency = window.get("latency_ms")
    return _number(latency.get(key)) if isinstance(latency, Mapping) else None


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


def _point(group: list[Mapping[str, Any]]) -> dict[str, float | None]:
    """One chart point of consecutive windows: rates over their time, the highest
    percentile, at the time the last one ends."""
    spans = [(_number(w.get("window_s")) or 0.0) for w in group]
    total = sum(spans)
    point: dict[str, float | None] = {"t_s": _round(_number(group[-1].get("t_s")))}
    for key in RATE_KEYS:
        pairs = [(_number(w.get(key)), s) for w, s in zip(group, spans, strict=True)]
        pairs = [(v, s) for v, s in pairs if v is not None]
        if not pairs:
            point[key] = None
        elif total > 0 and all(s > 0 for _, s in pairs):
            point[key] = _round(sum(v * s for v, s in pairs) / sum(s for _, s in pairs))
        else:
            point[key] = _round(sum(v for v, _ in pairs) / len(pairs))
    for key in PERCENTILES:
        values = [v for w in group if (v := _percentile(w, key)) is not None]
        point[key] = _round(max(values)) if values else None
    return point


def chart_series(
    report: Mapping[str, Any] | None, *, max_points: int = MAX_CHART_POINTS
) -> dict[str, list[float | None]]:
    """Columns for the charts: `t_s` and every rate and percentile, at most
    `max_points` long (see the module docstring)."""
    rows = windows(report)
    size = max(1, math.ceil(len(rows) / max_points)) if rows else 1
    points = [_point(rows[i : i + size]) for i in range(0, len(rows), size)]
    keys = ("t_s", *RATE_KEYS, *PERCENTILES)
    return {key: [p[key] for p in points] for key in keys}


def chart_data(
    report: Mapping[str, Any] | None,
    compare: Mapping[str, Any] | None = None,
    *,
    max_points: int = MAX_CHART_POINTS,
) -> dict[str, Any]:
    """What static/js/run-summary.js draws: one x axis (simulated seconds) and the
    series of the run, and of the run it is compared with (`compare`) on the same
    axis (None where a run has no window ending at that time)."""
    ours = chart_series(report, max_points=max_points)
    if compare is None:
        return {"x": ours.pop("t_s"), "series": ours, "compare": None}
    theirs = chart_series(compare, max_points=max_points)
    xs = sorted({t for t in ours["t_s"] + theirs["t_s"] if t is not None})

    def aligned(series: dict[str, list]) -> dict[str, list]:
        at = {t: i for i, t in enumerate(series["t_s"]) if t is not None}
        return {
            key: [values[at[t]] if t in at else None for t in xs]
            for key, values in series.items()
            if key != "t_s"
        }

    return {"x": xs, "series": aligned(ours), "compare": aligned(theirs)}


def component_ids(report: Mapping[str, Any] | None) -> list[str]:
    """The components of the timeline, in the order they first appear."""
    seen: dict[str, None] = {}
    for window in windows(report):
        comps = window.get("components")
        if isinstance(comps, Mapping):
            for cid in comps:
                seen.setdefault(str(cid), None)
    return list(seen)


def _flat(values: Mapping[str, Any]) -> dict[str, Any]:
    """A component's window as export cells: its figures (COMPONENT_KEYS), a
    database's replication lag (`lag_mean_ms`, `lag_max_ms`) and each shard's share
    of its requests (`shard-<k>.share`)."""
    cells = {k: values[k] for k in COMPONENT_KEYS if k in values}
    lag = values.get("replication_lag_ms")
    if isinstance(lag, Mapping):
        cells["lag_mean_ms"] = lag.get("mean")
        cells["lag_max_ms"] = lag.get("max")
    shards = values.get("shards")
    if isinstance(shards, list):
        for k, shard in enumerate(shards):
            if isinstance(shard, Mapping):
                cells[f"shard-{k}.share"] = shard.get("share")
    return cells


def _component_cells(report: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """(component, cell) pairs some window carries, components in order of first
    appearance, each one's cells in a fixed order."""
    order = {k: i for i, k in enumerate((*COMPONENT_KEYS, "lag_mean_ms", "lag_max_ms"))}
    carried: dict[str, set[str]] = {cid: set() for cid in component_ids(report)}
    for window in windows(report):
        comps = window.get("components")
        if not isinstance(comps, Mapping):
            continue
        for cid, values in comps.items():
            if isinstance(values, Mapping):
                carried[str(cid)].update(_flat(values))

    def rank(key: str) -> tuple[int, int]:
        if key in order:
            return (order[key], 0)
        return (len(order), int(key.split("-", 1)[1].split(".", 1)[0]))

    return [(cid, k) for cid, keys in carried.items() for k in sorted(keys, key=rank)]


def export_columns(report: Mapping[str, Any] | None) -> list[str]:
    """The export's columns: the window's, then `<component>.<cell>` for each cell
    some window of that component carries (see `_flat`)."""
    return [*WINDOW_COLUMNS, *(f"{cid}.{k}" for cid, k in _component_cells(report))]


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return _number(value)
    return None


def export_rows(report: Mapping[str, Any] | None) -> Iterator[dict[str, Any]]:
    """One mapping per window, keyed by `export_columns`; None where a window has no
    value (no request completed in it, a component without that figure)."""
    cells = _component_cells(report)
    for window in windows(report):
        row: dict[str, Any] = {}
        for key in ("t_s", "window_s", *RATE_KEYS):
            row[key] = _cell(window.get(key))
        for key in PERCENTILES:
            row[key] = _percentile(window, key)
        comps = window.get("components")
        comps = comps if isinstance(comps, Mapping) else {}
        flat: dict[str, dict[str, Any]] = {}
        for cid, key in cells:
            if cid not in flat:
                values = comps.get(cid)
                flat[cid] = _flat(values) if isinstance(values, Mapping) else {}
            row[f"{cid}.{key}"] = _cell(flat[cid].get(key))
        yield row


def _instances(value: Any) -> str:
    if isinstance(value, Mapping):
        low, high = _number(value.get("min")), _number(value.get("max"))
        final = _number(value.get("final"))
        if low is not None and high is not None and low != high:
            ends = f" (ends at {final:g})" if final is not None else ""
            return f"{low:g}\u2013{high:g}{ends}"
        return f"{high:g}" if high is not None else ""
    number = _number(value)
    return f"{number:g}" if number is not None else ""


def component_rows(report: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The report's components for the report page's table."""
    if not isinstance(report, Mapping) or not isinstance(
        report.get("components"), Mapping
    ):
        return []
    cost = report.get("cost") if isinstance(report.get("cost"), Mapping) else {}
    costs = (
        cost.get("components") if isinstance(cost.get("components"), Mapping) else {}
    )
    rows = []
    for cid, comp in report["components"].items():
        if not isinstance(comp, Mapping):
            continue
        latency = comp.get("latency_ms")
        lag = comp.get("replication_lag_ms")
        comp_cost = costs.get(cid) if isinstance(costs.get(cid), Mapping) else {}
        rows.append(
            {
                "id": str(cid),
                "component": comp,
                "type": str(comp.get("type") or ""),
                "throughput_rps": _number(comp.get("throughput_rps")),
                "queue_mean": _number(comp.get("queue_mean")),
                "latency_mean_ms": _number(latency.get("mean"))
                if isinstance(latency, Mapping)
                else _number(latency),
                "latency_p99_ms": _number(latency.get("p99"))
                if isinstance(latency, Mapping)
                else None,
                "hit_ratio": _number(comp.get("hit_ratio")),
                "lag_ms": _number(lag.get("mean"))
                if isinstance(lag, Mapping)
                else None,
                "instances": _instances(comp.get("instances")),
                "cost_per_hour": _number(comp_cost.get("per_hour")),
            }
        )
    return rows
