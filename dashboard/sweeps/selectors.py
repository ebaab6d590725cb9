"""Reads of sweeps. `sweep_get_for_user` is the one way to a sweep by id: it asks
`dashboard.access` what the user may do with the sweep's scenario (404 when they
may not see it, 403 when they may see it but not do what they asked)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from dashboard.access import Perm, scenario_perms
from dashboard.scenarios.models import Scenario
from dashboard.sweeps.answers import ab_answer
from dashboard.sweeps.models import Sweep, SweepPoint

#: Top-level sections whose numbers are not the system's (varying them sweeps
#: nothing a team designs): the format version, the run settings, the objectives.
#: The largest id the database holds (a bigint).
ID_MAX = 2**63 - 1
_NOT_SWEPT = {"scaleboard", "simulation", "objectives", "network"}


def sweep_get_for_user(
    *, user: AbstractBaseUser, sweep_id: int, perm: Perm = Perm.VIEW
) -> Sweep:
    """The sweep if `user` may `perm` its scenario; carries `perms`."""
    if not isinstance(sweep_id, int) or not 0 < sweep_id <= ID_MAX:
        raise Http404("No such sweep.")
    try:
        sweep = Sweep.objects.select_related(
            "scenario", "version", "compare_version", "owner"
        ).get(pk=sweep_id)
    except (Sweep.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("No such sweep.") from None
    perms = scenario_perms(user, sweep.scenario)
    if Perm.VIEW not in perms:
        raise Http404("No such sweep.")
    if perm not in perms:
        raise PermissionDenied(f"You may not {perm} this sweep.")
    sweep.perms = perms
    return sweep


def sweeps_of_scenario(*, scenario: Scenario) -> QuerySet[Sweep]:
    """A scenario's sweeps, newest first (the caller has checked VIEW on it)."""
    return scenario.sweeps.select_related("version", "compare_version", "owner")


def numeric_fields(tree: Mapping[str, Any]) -> list[tuple[str, int | float]]:
    """(path, current value) of every number the document sets, in document order,
    outside the run settings (`_NOT_SWEPT`): workload.rps, workload.phases[1].rps,
    components.web.instances, components.web.work_ms.mean, ..."""
    out: list[tuple[str, int | float]] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, bool):
            return
        if isinstance(node, (int, float)):
            if math.isfinite(node):
                out.append((path, node))
        elif isinstance(node, Mapping):
            for key, child in node.items():
                if not isinstance(key, str):
                    continue
                if not path and key in _NOT_SWEPT:
                    continue
                walk(child, f"{path}.{key}" if path else key)
        elif isinstance(node, list):
            for i, child in enumerate(node):
                walk(child, f"{path}[{i}]")

    walk(tree, "")
    return out[:500]


def _p99_knee(points: list[dict]) -> float | None:
    """Where p99 rises fastest: the value before the steepest rise of p99 per unit
    of the varied value."""
    rows = [p for p in points if p.get("p99_ms") is not None]
    best, where = None, None
    for a, b in itertools.pairwise(rows):
        width = b["value"] - a["value"]
        if width <= 0:
            continue
        slope = (b["p99_ms"] - a["p99_ms"]) / width
        if best is None or slope > best:
            best, where = slope, a["value"]
    return where


def sweep_data(*, sweep: Sweep, run_url) -> dict[str, Any]:
    """What the sweep page draws and polls (`/sweeps/<id>/data.json`): every point
    with its figures, the knee of each series, and the answer for capacity.
    `run_url(run_id)` makes a point's link (the shared pages make their own)."""
    labels = {"a": f"version {sweep.version.number}"}
    if sweep.compare_version_id:
        labels["b"] = f"version {sweep.compare_version.number}"
    rows = SweepPoint.objects.filter(sweep=sweep).select_related("run")
    series: dict[str, list[dict]] = {s: [] for s in sweep.series}
    for point in rows.defer(
        "run__report", "run__document_text", "run__replay_events"
    ).order_by("series", "value"):
        figures = {k: v for k, v in (point.figures or {}).items() if k != "report"}
        series.setdefault(point.series, []).append(
            {
                "value": point.value,
                "round": point.round,
                "status": point.status or (point.run.status if point.run else ""),
                "progress": point.run.progress if point.run else None,
                "met": point.met,
                "recorded": point.recorded,
                "run": str(point.run_id) if point.run_id else None,
                "url": run_url(point.run_id) if point.run_id else None,
                **figures,
            }
        )
    knees: dict[str, float | None] = {}
    answers: dict[str, str] = {}
    result = sweep.result or {}
    for s, points in series.items():
        done = [p for p in points if p["recorded"] and p["status"] == "succeeded"]
        if sweep.kind == Sweep.Kind.CAPACITY:
            knees[s] = (result.get(s) or {}).get("max_value")
            if result.get(s):
                answers[s] = result[s].get("answer", "")
        elif any(p["met"] is not None for p in done):
            held = [p["value"] for p in done if p["met"]]
            knees[s] = max(held) if held else None
        else:
            knees[s] = _p99_knee(done)
    return {
        "id": sweep.pk,
        "kind": sweep.kind,
        "vary": sweep.vary,
        "status": sweep.status,
        "error": sweep.error,
        "final": sweep.is_final,
        "labels": labels,
        "series": series,
        "knee": knees,
        "knee_rule": (
            "capacity"
            if sweep.kind == Sweep.Kind.CAPACITY
            else "objectives"
            if any(p["met"] is not None for ps in series.values() for p in ps)
            else "p99"
        ),
        "answer": answers,
        # an A/B capacity search, once both answers are in: did the change raise it?
        "comparison": (
            ab_answer(result["a"], result["b"], labels, sweep.vary)
            if sweep.kind == Sweep.Kind.CAPACITY and result.get("a") and result.get("b")
            else ""
        ),
        "points_total": sum(len(p) for p in series.values()),
        "points_done": sum(1 for ps in series.values() for p in ps if p["recorded"]),
    }
