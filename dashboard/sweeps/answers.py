"""A capacity search's answer in words, and an A/B search's comparison: what the
sweep page and the API say ("up to 581.7 req/s within latency_ms.p99 <= 250 ms; above
it web saturates (...)", "version 2 against version 1: raises capacity by 22%, ...")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import simengine


def _unit(vary: str) -> str:
    return " req/s" if vary.split(".")[-1] in ("rps",) else ""


def number_text(value: float | None) -> str:
    """A value as the answer says it: 581.7, 12, 0.4567."""
    if not isinstance(value, (int, float)):
        return "?"
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{round(value, 1):g}" if abs(value) >= 100 else f"{value:.4g}"


def _limit_text(objective: str, limit: float | None) -> str:
    shown = simengine.format_value(objective, limit)
    _, _, unit = shown.partition(" ")
    return f"{number_text(limit)} {unit}" if unit else shown


def ab_answer(
    a: Mapping[str, Any], b: Mapping[str, Any], labels: Mapping[str, str], vary: str
) -> str:
    """Did the change raise capacity? Version A's capacity against version B's, in
    words: the same within the search's resolution (each boundary is known to a
    fraction `resolution` of it), or by how much it moved, and what limits each."""
    unit = _unit(vary)
    top_a, top_b = a.get("max_value"), b.get("max_value")
    if not isinstance(top_a, (int, float)) or not isinstance(top_b, (int, float)):
        return ""
    resolution = max(a.get("resolution") or 0.0, b.get("resolution") or 0.0)
    head = f"{labels['a']} against {labels['b']}: "
    if abs(top_a - top_b) <= resolution * max(abs(top_a), abs(top_b)):
        head += f"the same capacity within the resolution ({number_text(top_a)}{unit})"
    else:
        change = (top_a - top_b) / top_b if top_b else float("inf")
        verb = "raises" if top_a > top_b else "lowers"
        head += (
            f"{verb} capacity by {abs(change):.0%}, from {number_text(top_b)}{unit} "
            f"to {number_text(top_a)}{unit}"
        )
    limits = [(x.get("limited_by") or {}).get("component") or None for x in (a, b)]
    if limits[0] and limits[0] == limits[1]:
        head += f"; {limits[0]} limits both"
    elif limits[0] or limits[1]:
        head += "; " + ", ".join(
            f"{labels[s]} is limited by {c}"
            for s, c in zip("ab", limits, strict=True)
            if c
        )
    return head


def capacity_answer(result: Mapping[str, Any], vary: str, *, bound: str = "max") -> str:
    """The capacity in words: "up to 581.7 req/s within latency_ms.p99 <= 250 ms;
    above it web saturates (p99 263.8 ms at 584.2 req/s, 97% busy)"."""
    unit = _unit(vary)
    top = number_text(result.get("max_value"))
    limited = result.get("limited_by")
    if not limited:
        return (
            f"every objective holds over the whole range, up to {top}{unit}: the "
            "capacity is above it (raise high)"
        )
    objective = limited.get("objective") or "an objective"
    sign = "<=" if bound == "max" else ">="
    limit = _limit_text(objective, limited.get("limit"))
    value = simengine.format_value(objective, limited.get("value"))
    short = objective.split(".")[-1]
    at = number_text(limited.get("at"))
    text = f"up to {top}{unit} within {objective} {sign} {limit}"
    component = limited.get("component")
    if component:
        utilization = limited.get("utilization")
        known = isinstance(utilization, (int, float))
        busy = f", {utilization:.0%} busy" if known else ""
        verb = "saturates" if known and utilization >= 0.85 else "is the first to fail"
        text += f"; above it {component} {verb} ({short} {value} at {at}{unit}{busy})"
    else:
        text += f"; above it {short} is {value} (at {at}{unit})"
    return text
