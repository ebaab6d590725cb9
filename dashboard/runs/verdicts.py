"""A run's verdict: one line that says how it went, from its status and its report.

`run_verdict(run)` reads three small parts of the report: `requests` (the error
rate), `objectives` (k of n met) and `partial` (a run stopped early). On a run
loaded whole it reads them from `run.report`; on a run of the history list
(`selectors.run_history_annotate`) from the annotations the database read out of
the report (`report_requests`, `report_objectives`, `report_partial`), so the list
never loads a report to judge it.

- failed: "failed".
- succeeded: "succeeded", then "degraded: 14% failed" when more than
  `RUN_DEGRADED_ERROR_RATE` of the offered requests failed (errors + timeouts +
  rejected over offered; timeouts alone passing it say so), then
  "objectives 2 of 3 met" when the document has objectives.
- cancelled: "cancelled", and "partial report" when the worker kept what it had
  measured ("partial: 3 of 10 replications" or "measured 42 s of 120" in `details`);
  a partial report is judged as a whole one (degraded, objectives).
- queued or running: no verdict yet (None).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings

import simengine
from dashboard.runs.models import Run

#: Levels, for the colour of a verdict (`templates/runs/_verdict.html`).
OK, WARN, BAD, MUTED = "ok", "warn", "bad", "muted"


@dataclass(frozen=True)
class Verdict:
    status: str
    level: str  # OK, WARN, BAD or MUTED
    label: str  # "succeeded · degraded: 14% failed"
    details: tuple[str, ...] = ()  # longer sentences, for a title or a report page
    degraded: bool = False
    error_rate: float | None = None  # 0..1: (errors + timeouts + rejected) / offered
    timeout_rate: float | None = None
    objectives_met: int | None = None
    objectives_total: int | None = None
    partial: str = ""  # "partial: 3 of 10 replications", "measured 42 s of 120"

    @property
    def qualifier(self) -> str:
        """The label without its status, for a list that shows the status apart."""
        return self.label.partition(" \u00b7 ")[2]

    @property
    def error_rate_text(self) -> str:
        return rate_text(self.error_rate) if self.error_rate is not None else ""


def rate_text(rate: float) -> str:
    """A share as a page shows it: "14%", "2.5%", "<0.1%", "0%"."""
    pct = 100.0 * rate
    if pct == 0:
        return "0%"
    if pct < 0.1:
        return "<0.1%"
    if pct >= 10:
        return f"{pct:.0f}%"
    return f"{pct:.1f}%".replace(".0%", "%")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _seconds(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.3g}"


_MISSING = object()


def _report_parts(run: Run) -> tuple[Any, Any, Any]:
    """(requests, objectives, partial) of the run's report, from the list's
    annotations when present, else from the report (never loading a deferred one)."""
    requests = getattr(run, "report_requests", _MISSING)
    if requests is not _MISSING:
        return (
            requests,
            getattr(run, "report_objectives", None),
            getattr(run, "report_partial", None),
        )
    if "report" in run.get_deferred_fields():
        return None, None, None
    report = run.report if isinstance(run.report, Mapping) else {}
    return report.get("requests"), report.get("objectives"), report.get("partial")


def failure_rates(requests: Any) -> tuple[float | None, float | None]:
    """(failed, timed out) over offered, 0..1; None without request counts."""
    if not isinstance(requests, Mapping):
        return None, None
    offered = _number(requests.get("offered"))
    if offered is None:
        return None, None
    if offered <= 0:
        return 0.0, 0.0
    counts = {k: _number(requests.get(k)) or 0.0 for k in ("errors", "timeouts")}
    failed = counts["errors"] + counts["timeouts"]
    failed += _number(requests.get("rejected")) or 0.0
    return failed / offered, counts["timeouts"] / offered


def _objectives(objectives: Any) -> tuple[int | None, int | None]:
    if not isinstance(objectives, Mapping):
        return None, None
    checks = objectives.get("checks")
    if not isinstance(checks, list) or not checks:
        return None, None
    met = sum(1 for c in checks if isinstance(c, Mapping) and c.get("met") is True)
    return met, len(checks)


def planned_duration_s(run: Run) -> float | None:
    """The document's `simulation.duration_s`, when the run's text is loaded."""
    if "document_text" in run.get_deferred_fields() or not run.document_text:
        return None
    try:
        tree = simengine.load_document_tree(run.document_text)
    except simengine.DocumentError:
        return None
    sim = tree.get("simulation")
    return _number(sim.get("duration_s")) if isinstance(sim, Mapping) else None


def _partial_text(partial: Any, planned_s: float | None) -> str:
    if not isinstance(partial, Mapping):
        return ""
    planned = _number(partial.get("replications_planned"))
    complete = _number(partial.get("replications_complete"))
    if planned is not None and planned > 1 and complete:
        return f"partial: {complete:.0f} of {planned:.0f} replications"
    measured = _number(partial.get("measured_s"))
    if measured is None:
        return "partial report"
    text = f"measured {_seconds(measured)} s"
    if planned_s:
        text += f" of {_seconds(planned_s)}"
    return text


def run_verdict(run: Run, *, degraded_rate: float | None = None) -> Verdict | None:
    """How `run` went (see the module docstring); None while it is queued or
    running. `degraded_rate` defaults to settings.RUN_DEGRADED_ERROR_RATE."""
    status = run.status
    if status in Run.ACTIVE:
        return None
    if status == Run.Status.FAILED:
        return Verdict(status=status, level=BAD, label="failed")
    threshold = (
        settings.RUN_DEGRADED_ERROR_RATE if degraded_rate is None else degraded_rate
    )
    requests, objectives, partial = _report_parts(run)
    parts = [str(status)]
    details: list[str] = []
    partial_text = ""
    if status == Run.Status.CANCELLED:
        if not isinstance(partial, Mapping):
            return Verdict(status=status, level=MUTED, label="cancelled")
        partial_text = _partial_text(partial, planned_duration_s(run))
        parts.append("partial report")
        details.append(partial_text)
    error_rate, timeout_rate = failure_rates(requests)
    degraded = error_rate is not None and (
        error_rate > threshold or (timeout_rate or 0.0) > threshold
    )
    if degraded:
        parts.append(f"degraded: {rate_text(error_rate)} failed")
        sentence = (
            f"{rate_text(error_rate)} of the offered requests failed (errors, "
            f"timeouts and rejections), more than the {rate_text(threshold)} "
            "a healthy run may lose"
        )
        if timeout_rate and timeout_rate > threshold:
            sentence += f"; {rate_text(timeout_rate)} timed out"
        details.append(sentence)
    met, total = _objectives(objectives)
    if total:
        parts.append(f"objectives {met} of {total} met")
    if status == Run.Status.CANCELLED:
        level = WARN if degraded or (total and met != total) else MUTED
    else:
        level = WARN if degraded or (total and met != total) else OK
    return Verdict(
        status=status,
        level=level,
        label=" \u00b7 ".join(parts),
        details=tuple(details),
        degraded=degraded,
        error_rate=error_rate,
        timeout_rate=timeout_rate,
        objectives_met=met,
        objectives_total=total,
        partial=partial_text,
    )
