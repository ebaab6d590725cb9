"""The estimate as plain text, for ``python -m simengine estimate``."""

from __future__ import annotations

from typing import Any

from ..advice import WARN_UTILIZATION
from ..objectives import format_value


def format_estimate(result: dict[str, Any]) -> str:
    """The estimate as plain text, for the command line."""

    def num(x: float | None, digits: int = 1) -> str:
        return "-" if x is None else f"{x:,.{digits}f}"

    lines = [result["label"], ""]
    lat = result["latency_ms"]
    why = (
        "unbounded (overloaded)" if result["saturated"] else "not available (see notes)"
    )
    lines.append(
        f"offered {num(result['rps'])} requests/s; mean latency "
        f"{num(lat['mean'], 2) + ' ms' if lat else why}; "
        f"cost {result['cost_per_hour']:,.2f} per hour"
    )
    closed = result.get("closed")
    if closed:  # a closed workload: mean value analysis
        lines.append(
            f"closed: {closed['users']} users, think {num(closed['think_ms_mean'], 2)}"
            f" ms, response {num(closed['response_ms'], 2)} ms, cycle "
            f"{num(closed['cycle_ms']['mean'], 2)} ms ({closed['method']})"
        )
    retry = result.get("retry")
    if retry and retry["available"]:
        lines.append(
            f"retries: {retry['attempts_per_request']:.3f} attempts per request "
            f"({retry['attempts_rps']:,.1f}/s; {retry['failure_probability']:.2%} of "
            f"attempts refused); {retry['gave_up_ratio']:.2%} of requests give up"
        )
    lines.append("")
    lines.append(
        f"{'component':<16}{'type':<15}{'load rps':>11}{'busy':>8}{'latency ms':>12}"
    )
    for cid, c in result["components"].items():
        busy = c["peak_utilization"]
        busy_text = "-" if busy is None else f"{busy * 100:.1f}%"
        mean = (c.get("latency_ms") or {}).get("mean")
        extra = ""
        if c.get("hit_ratio") is not None:
            extra = f"  hit ratio {c['hit_ratio']:.1%}"
        if c.get("refused_ratio"):
            extra += f"  refuses {c['refused_ratio']:.1%}"
        if c.get("dropped_ratio"):
            extra += f"  drops {c['dropped_ratio']:.1%}"
        if c["type"] == "queue" and c["reached"]:
            if c.get("consumer_wait_ms") is not None:
                extra += (
                    f"  consumer wait {num(c['consumer_wait_ms'], 2)} ms, end to end "
                    f"{num(c['end_to_end_ms'], 2)} ms"
                )
            elif c.get("grows_msg_per_s") is not None:
                extra += f"  grows by {num(c['grows_msg_per_s'])} msg/s"
        if not c["reached"]:
            extra += "  (not reached)"
        lines.append(
            f"{cid:<16}{c['type']:<15}{num(c['offered_rps']):>11}{busy_text:>8}"
            f"{num(mean, 2):>12}{extra}"
        )
    neck = result["bottleneck"]
    if neck:
        label = "bottleneck" if neck["utilization"] >= WARN_UTILIZATION else "busiest"
        node = f" ({neck['node']})" if neck["node"] else ""
        lines += [
            "",
            f"{label}: {neck['component']}{node} at {neck['utilization']:.1%}",
            f"finding: {neck['why']}",
            f"advice: {neck['advice']}",
        ]
    for note in result["notes"]:
        lines.append(f"note: {note}")
    if result.get("objectives"):
        lines.append("")
        lines.append("objectives (estimate):")
        for c in result["objectives"]:
            sign = "<=" if c["bound"] == "max" else ">="
            verdict = {True: "ok  ", False: "MISS", None: "run "}[c["met"]]
            value = (
                "a run measures it"
                if c["met"] is None
                else format_value(c["objective"], c["estimate"])
                if c["estimate"] is not None
                else "unbounded"
            )
            lines.append(
                f"  {verdict}  {c['objective']} {sign} "
                f"{format_value(c['objective'], c['limit'])}: {value}"
            )
    return "\n".join(lines)
