"""Writes of sweeps: start one, cancel it, and advance it as its point runs end.

A sweep varies one numeric field of a stored version's document (`vary`, a dotted
path as `simengine.path_parts` reads it). Every point is a normal `Run` of the
point's document (`simengine.point_document`), created with
`runs.services.run_create(for_sweep=True)`: its replications fan out as parts, and
the run page, cancel and the reaper work on it as on any run. Points do not count
against RUNS_ACTIVE_PER_USER; a sweep has its own limits, SWEEP_MAX_POINTS and
SWEEPS_ACTIVE_PER_USER.

There is no coordinator task (with two workers, a task waiting for others
deadlocks). A point run that ends sends `runs.signals.run_finished`; the receiver
(`sweep_run_finished`) calls `sweep_advance`, which under a row lock of the sweep
records every ended point (its figures, read out of the run's report once), and:

- a plain sweep succeeds when every point has succeeded;
- a capacity sweep rebuilds each series' `simengine.CapacitySearch` from the
  recorded points, round by round; when a round is complete it creates the next
  round's runs (BATCH points) or stores the result;
- a point run that failed (or was cancelled by hand) ends the sweep with its error,
  and the other point runs are cancelled.

Recording is conditional (`recorded`), rounds are created once (the unique
constraint and a check under the lock), so a duplicated signal changes nothing.
The sweep page's poll calls `sweep_advance` too, in case a worker died between a
run's commit and its signal.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping
from typing import Any

import yaml
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

import simengine
from dashboard.runs import services as run_services
from dashboard.runs.limits import engine_limits
from dashboard.runs.models import Run
from dashboard.runs.verdicts import failure_rates
from dashboard.scenarios.models import Scenario, ScenarioVersion
from dashboard.sweeps.answers import capacity_answer
from dashboard.sweeps.models import Sweep, SweepPoint

log = logging.getLogger(__name__)

#: Points a round of a capacity search simulates at once (bisecting into BATCH + 1).
BATCH = 3
#: The engine's option names, as the web's fields are named.
_FIELD_NAMES = {
    "--vary": "vary",
    "--values": "values",
    "--from": "from",
    "--to": "to",
    "--steps": "steps",
    "--low": "low",
    "--high": "high",
    "--resolution": "resolution",
}


class SweepError(Exception):
    """A sweep that cannot start: `field` names what is wrong (answered 400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class SweepLimitExceeded(Exception):
    """The user already has SWEEPS_ACTIVE_PER_USER sweeps queued or running (429)."""


def _field(path: str) -> str:
    return _FIELD_NAMES.get(path, path)


def _doc_error(exc: simengine.DocumentError, *, prefix: str = "") -> SweepError:
    first = exc.errors[0]
    return SweepError(_field(first.path), prefix + first.message)


def _message(exc: simengine.DocumentError) -> str:
    return "; ".join(f"{_field(e.path)}: {e.message}" for e in exc.errors)


# --- The points' documents -----------------------------------------------------------


def _with_value(tree: Mapping[str, Any], path: str, value: int | float) -> dict:
    """A copy of `tree` with the field at `path` set (missing mappings made on the
    way, as `simengine.point_document` makes them). `point_document` has checked
    the path and the value first."""
    parts = simengine.path_parts(path)
    out = copy.deepcopy(dict(tree))
    node: Any = out
    for depth, part in enumerate(parts[:-1]):
        if isinstance(part, int):
            node = node[part]
            continue
        child = node.get(part)
        if child is None:
            child = [] if isinstance(parts[depth + 1], int) else {}
            node[part] = child
        node = child
    node[parts[-1]] = value
    return out


def point_text(tree: Mapping[str, Any], path: str, value: int | float) -> str:
    """The document text of one point (YAML), what its run runs."""
    return yaml.safe_dump(_with_value(tree, path, value), sort_keys=False)


def _tree(version: ScenarioVersion) -> Mapping[str, Any]:
    try:
        return simengine.load_document_tree(
            version.document_text, limits=engine_limits()
        )
    except simengine.DocumentError as exc:
        raise _doc_error(exc, prefix=f"version {version.number}: ") from None


def _point_run(
    *,
    sweep: Sweep,
    version: ScenarioVersion,
    tree: Mapping[str, Any],
    value: int | float,
) -> Run:
    doc = simengine.point_document(tree, sweep.vary, value, engine_limits())
    return run_services.run_create(
        owner=sweep.owner,
        document=doc,
        document_text=point_text(tree, sweep.vary, value),
        scenario=sweep.scenario,
        version=version,
        for_sweep=True,
    )


def _check_point(tree: Mapping[str, Any], path: str, value: int | float, label: str):
    """The point's document, parsed; a refusal names the path and the value."""
    try:
        doc = simengine.point_document(tree, path, value, engine_limits())
        from dashboard.runs.limits import check_snapshot_budget

        check_snapshot_budget(doc)
    except simengine.DocumentError as exc:
        raise _doc_error(exc, prefix=label) from None
    return doc


# --- Starting a sweep ----------------------------------------------------------------


def _lock_user(owner: AbstractBaseUser) -> None:
    """Serialise one user's sweep starts (the active-sweep count), as run starts
    are serialised (`runs.services._lock_user`: the same lock, the same order)."""
    users = get_user_model().objects.select_for_update(no_key=True)
    list(users.filter(pk=owner.pk).values("pk"))


def _finite(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SweepError(name, "must be a number")
    if not math.isfinite(value):
        raise SweepError(name, f"must be a finite number (got {value})")
    return value


def _series(
    version: ScenarioVersion, compare_version: ScenarioVersion | None
) -> list[tuple[str, ScenarioVersion]]:
    out = [("a", version)]
    if compare_version is not None:
        out.append(("b", compare_version))
    return out


def _label(series: str, version: ScenarioVersion, ab: bool) -> str:
    return f"version {version.number}: " if ab else ""


def sweep_create(
    *,
    owner: AbstractBaseUser,
    scenario: Scenario,
    version: ScenarioVersion,
    kind: str,
    vary: str,
    values: list[float] | None = None,
    start: float | None = None,
    stop: float | None = None,
    steps: int | None = None,
    low: float | None = None,
    high: float | None = None,
    resolution: float | None = None,
    compare_version: ScenarioVersion | None = None,
) -> Sweep:
    """Start a sweep of `version` (a plain sweep of `values`, or `start`/`stop`/
    `steps`; or a capacity search between `low` and `high`, both optional, to
    `resolution`, a fraction of the value); with `compare_version` every point
    also runs on that version (A/B).

    Every point of a plain sweep, and the first round of a capacity search, is
    checked before anything is written: raises `SweepError` naming the field (the
    path and value for a value the field refuses) or `SweepLimitExceeded`, and
    then nothing is created. The sweep and its first runs are one transaction.
    """
    if kind not in Sweep.Kind.values:
        raise SweepError("kind", "must be sweep or capacity")
    if not isinstance(vary, str) or not vary.strip():
        raise SweepError("vary", "pick the field to vary")
    vary = vary.strip()
    try:
        simengine.path_parts(vary)
    except simengine.DocumentError as exc:
        raise _doc_error(exc) from None
    if compare_version is not None and compare_version.scenario_id != scenario.pk:
        raise SweepError("compare", "must be a version of the same scenario")
    if compare_version is not None and compare_version.pk == version.pk:
        raise SweepError("compare", "compare with another version than the swept one")
    ab = compare_version is not None
    series = _series(version, compare_version)
    trees = {s: _tree(v) for s, v in series}
    max_points = settings.SWEEP_MAX_POINTS
    first: list[tuple[str, ScenarioVersion, int | float]] = []
    fields: dict[str, Any] = {}
    if kind == Sweep.Kind.SWEEP:
        for name, given in (("from", start), ("to", stop)):
            _finite(name, given)
        if values is not None:
            for i, v in enumerate(values):
                _finite(f"values[{i}]", v)
        try:
            points = simengine.sweep_values(
                values=values, start=start, stop=stop, steps=steps
            )
        except simengine.DocumentError as exc:
            raise _doc_error(exc) from None
        if len(set(points)) != len(points):
            raise SweepError("values", "lists a value twice")
        total = len(points) * len(series)
        if total > max_points:
            where = "values" if values is not None else "steps"
            raise SweepError(
                where,
                f"a sweep has at most {max_points} points (SWEEP_MAX_POINTS); this "
                f"one has {total}" + (" (two versions)" if ab else ""),
            )
        for s, v in series:
            for value in points:
                _check_point(
                    trees[s], vary, value, _label(s, v, ab)
                )  # raises naming it
                first.append((s, v, value))
        fields["values"] = list(points)
    else:
        _finite("low", low)
        _finite("high", high)
        res = 0.01 if resolution is None else _finite("resolution", resolution)
        if low is not None and high is not None and not low < high:
            raise SweepError("low", f"must be below high (got {low:g} and {high:g})")
        for s, v in series:
            search = _search(trees[s], vary, low, high, res, label=_label(s, v, ab))
            for value in search.next_values():
                _check_point(trees[s], vary, value, _label(s, v, ab))
                first.append((s, v, value))
        fields.update(low=low, high=high, resolution=res)
    with transaction.atomic():
        _lock_user(owner)
        active = Sweep.objects.filter(owner=owner, status__in=Sweep.ACTIVE).count()
        if active >= settings.SWEEPS_ACTIVE_PER_USER:
            raise SweepLimitExceeded(
                f"You already have {settings.SWEEPS_ACTIVE_PER_USER} sweeps queued or "
                "running (SWEEPS_ACTIVE_PER_USER); wait for one to finish or cancel "
                "one."
            )
        sweep = Sweep.objects.create(
            scenario=scenario,
            version=version,
            compare_version=compare_version,
            owner=owner,
            kind=kind,
            vary=vary,
            **fields,
        )
        for s, v, value in first:
            run = _point_run(sweep=sweep, version=v, tree=trees[s], value=value)
            SweepPoint.objects.create(
                sweep=sweep, series=s, value=value, round=0, run=run
            )
    return sweep


def _search(
    tree: Mapping[str, Any],
    vary: str,
    low: float | None,
    high: float | None,
    resolution: float,
    *,
    label: str = "",
) -> simengine.CapacitySearch:
    try:
        return simengine.CapacitySearch(
            tree,
            vary,
            low=low,
            high=high,
            resolution=resolution,
            batch=BATCH,
            limits=engine_limits(),
        )
    except simengine.DocumentError as exc:
        raise _doc_error(exc, prefix=label) from None


# --- Cancel --------------------------------------------------------------------------


def sweep_cancel(*, sweep: Sweep) -> bool:
    """Cancel a queued or running sweep and every point run still active; True if
    this call cancelled it."""
    with transaction.atomic():
        locked = Sweep.objects.select_for_update().filter(pk=sweep.pk).first()
        if locked is None or locked.is_final:
            return False
        Sweep.objects.filter(pk=sweep.pk).update(
            status=Sweep.Status.CANCELLED,
            finished_at=timezone.now(),
            error="Cancelled.",
        )
        _cancel_points(sweep.pk)
    return True


def _cancel_points(sweep_id: int) -> None:
    active = Run.objects.filter(sweep_points__sweep_id=sweep_id, status__in=Run.ACTIVE)
    for run in active.distinct():
        run_services.run_cancel(run=run)


# --- Progress: a point run ended -----------------------------------------------------


def sweep_run_finished(sender=None, *, run_id, **kwargs) -> None:
    """`runs.signals.run_finished`'s receiver: advance the sweeps of this run."""
    sweep_ids = set(
        SweepPoint.objects.filter(run_id=run_id).values_list("sweep_id", flat=True)
    )
    for sweep_id in sweep_ids:
        sweep_advance(sweep_id=sweep_id)


def point_figures(report: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The numbers a sweep charts, read out of a point's report once: throughput,
    p50/p99 (and their 95% intervals with replications), the failed share, the
    busiest component and its utilization; `report` keeps what the capacity
    search reads again (objectives, components, bottleneck)."""
    if not isinstance(report, Mapping):
        return None
    latency = report.get("latency_ms") or {}
    ci = report.get("ci95") or {}
    error_rate, _ = failure_rates(report.get("requests"))
    bottleneck = report.get("bottleneck") or {}
    components = report.get("components") or {}
    busiest = bottleneck.get("component")
    utilization = bottleneck.get("utilization")
    if busiest is None:
        loads = {
            cid: c.get("utilization")
            for cid, c in components.items()
            if isinstance(c, Mapping) and isinstance(c.get("utilization"), (int, float))
        }
        if loads:
            busiest = max(loads, key=loads.get)
            utilization = loads[busiest]
    objectives = report.get("objectives") or {}
    return {
        "throughput_rps": report.get("throughput_rps"),
        "p50_ms": latency.get("p50"),
        "p99_ms": latency.get("p99"),
        "p50_ci": ci.get("latency_ms.p50"),
        "p99_ci": ci.get("latency_ms.p99"),
        "error_rate": error_rate,
        "busiest": busiest,
        "utilization": utilization,
        "objectives_met": objectives.get("met") if objectives else None,
        "report": {
            "objectives": objectives,
            "components": components,
            "bottleneck": bottleneck,
        },
    }


def _point_name(sweep: Sweep, point: SweepPoint) -> str:
    name = f"{sweep.vary} = {point.value:g}"
    if sweep.compare_version_id:
        version = sweep.version if point.series == "a" else sweep.compare_version
        name += f" (version {version.number})"
    return name


def _finish(sweep: Sweep, status: str, **fields: Any) -> None:
    Sweep.objects.filter(pk=sweep.pk).update(
        status=status, finished_at=timezone.now(), **fields
    )


def sweep_advance(*, sweep_id: int) -> str | None:
    """Record the sweep's ended points and move it on (see the module docstring);
    the sweep's status after it, None when there is no such sweep. Idempotent."""
    with transaction.atomic():
        sweep = (
            Sweep.objects.select_for_update(of=("self",))
            .select_related("version", "compare_version", "owner", "scenario")
            .filter(pk=sweep_id)
            .first()
        )
        if sweep is None:
            return None
        if sweep.is_final:
            return sweep.status
        _record_ended(sweep)
        points = list(sweep.points.all().order_by("series", "round", "value"))
        broken = [p for p in points if p.recorded and p.status != Run.Status.SUCCEEDED]
        if broken or any(p.run_id is None and not p.recorded for p in points):
            point = broken[0] if broken else next(p for p in points if p.run_id is None)
            error = _broken_text(sweep, point)
            status = (
                Sweep.Status.CANCELLED
                if point.status == Run.Status.CANCELLED
                else Sweep.Status.FAILED
            )
            _finish(sweep, status, error=error)
            _cancel_points(sweep.pk)
            return status
        if sweep.status == Sweep.Status.QUEUED and _any_started(sweep):
            Sweep.objects.filter(pk=sweep.pk).update(status=Sweep.Status.RUNNING)
            sweep.status = Sweep.Status.RUNNING
        if sweep.kind == Sweep.Kind.SWEEP:
            if points and all(p.recorded for p in points):
                _finish(sweep, Sweep.Status.SUCCEEDED)
                return Sweep.Status.SUCCEEDED
            return sweep.status
        return _advance_capacity(sweep, points)


def _any_started(sweep: Sweep) -> bool:
    return (
        Run.objects.filter(sweep_points__sweep=sweep)
        .exclude(status=Run.Status.QUEUED)
        .exists()
    )


def _broken_text(sweep: Sweep, point: SweepPoint) -> str:
    name = _point_name(sweep, point)
    if point.run_id is None:
        return f"The run of {name} was deleted."
    error = (
        Run.objects.filter(pk=point.run_id).values_list("error", flat=True).first()
        or ""
    )
    if point.status == Run.Status.CANCELLED:
        return f"The run of {name} was cancelled."
    return f"The run of {name} failed: {error or 'no error was recorded'}"


def _record_ended(sweep: Sweep) -> None:
    """Write figures, met and status onto every point whose run has ended and that
    is not recorded yet (each read of a report happens once)."""
    pending = sweep.points.filter(recorded=False, run__status__in=Run.FINAL)
    for point in pending.select_related("run"):
        run = point.run
        figures = point_figures(run.report) if run.status == "succeeded" else None
        met = None
        if figures is not None and figures["report"]["objectives"]:
            met = bool(figures["objectives_met"])
        SweepPoint.objects.filter(pk=point.pk, recorded=False).update(
            recorded=True, status=run.status, figures=figures, met=met
        )


def _rebuild(
    sweep: Sweep, tree: Mapping[str, Any], points: list[SweepPoint]
) -> tuple[simengine.CapacitySearch, int, bool]:
    """The series' search with its recorded points recorded again, round by
    round: (search, the last round, whether that round is complete)."""
    search = simengine.CapacitySearch(
        tree,
        sweep.vary,
        low=sweep.low,
        high=sweep.high,
        resolution=sweep.resolution,
        batch=BATCH,
        limits=engine_limits(),
    )
    rounds = sorted({p.round for p in points})
    for r in rounds:
        here = [p for p in points if p.round == r]
        if not all(p.recorded for p in here):
            return search, r, False
        for p in here:
            search.record(_value(sweep, p.value), p.figures["report"])
    return search, rounds[-1] if rounds else -1, True


def _value(sweep: Sweep, value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _advance_capacity(sweep: Sweep, points: list[SweepPoint]) -> str:
    results: dict[str, Any] = {}
    new: list[tuple[str, ScenarioVersion, Mapping[str, Any], list]] = []
    for s, version in _series(sweep.version, sweep.compare_version):
        mine = [p for p in points if p.series == s]
        tree = simengine.load_document_tree(
            version.document_text, limits=engine_limits()
        )
        try:
            search, last_round, complete = _rebuild(sweep, tree, mine)
            if not complete:
                continue
            if search.done:
                results[s] = _result_out(search, sweep)
                continue
            values = search.next_values()
        except simengine.DocumentError as exc:
            label = f"version {version.number}: " if sweep.compare_version_id else ""
            _finish(sweep, Sweep.Status.FAILED, error=label + _message(exc))
            _cancel_points(sweep.pk)
            return Sweep.Status.FAILED
        if not sweep.points.filter(series=s, round=last_round + 1).exists():
            new.append((s, version, tree, [(last_round + 1, v) for v in values]))
    wanted = sum(len(v) for *_, v in new)
    if wanted and len(points) + wanted > settings.SWEEP_MAX_POINTS:
        _finish(
            sweep,
            Sweep.Status.FAILED,
            error=(
                f"The search needs more than {settings.SWEEP_MAX_POINTS} points "
                "(SWEEP_MAX_POINTS): raise the resolution or narrow low and high."
            ),
        )
        _cancel_points(sweep.pk)
        return Sweep.Status.FAILED
    for s, version, tree, values in new:
        for round_, value in values:
            try:
                run = _point_run(sweep=sweep, version=version, tree=tree, value=value)
            except (simengine.DocumentError, run_services.RunLimitExceeded) as exc:
                error = (
                    _message(exc) if isinstance(exc, simengine.DocumentError) else exc
                )
                _finish(sweep, Sweep.Status.FAILED, error=str(error))
                _cancel_points(sweep.pk)
                return Sweep.Status.FAILED
            SweepPoint.objects.create(
                sweep=sweep, series=s, value=value, round=round_, run=run
            )
    if len(results) == len(sweep.series):
        _finish(sweep, Sweep.Status.SUCCEEDED, result=results)
        return Sweep.Status.SUCCEEDED
    return sweep.status


def _result_out(search: simengine.CapacitySearch, sweep: Sweep) -> dict[str, Any]:
    """`CapacitySearch.result()` as stored: the points without their reports (the
    runs have them), and the answer in words."""
    result = search.result()
    bound = "max"
    limited = result.get("limited_by")
    if limited:
        bad = next((p for p in result["points"] if p["value"] == limited["at"]), None)
        checks = ((bad or {}).get("report") or {}).get("objectives", {}).get("checks")
        for check in checks or []:
            if check.get("objective") == limited.get("objective"):
                bound = check.get("bound") or bound
    result["points"] = [
        {"value": p["value"], "met": p["met"]} for p in result["points"]
    ]
    result["answer"] = capacity_answer(result, sweep.vary, bound=bound)
    return result
