"""Running documents: one replication, all of them, and combining their reports."""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

from .advice import bottleneck, busiest, component_load, run_warnings
from .document import Document
from .errors import Cancelled
from .limits import Limits
from .objectives import WindowWatch, judge, objective_specs
from .pricing import report_cost
from .runtime import Sim
from .snapshot import SNAPSHOT_VERSION, Snapshot, Window

if TYPE_CHECKING:
    from .whatif import Feed

ENGINE_VERSION = "0.1.0"

SnapshotCallback = Callable[[Snapshot], None]
StopCallback = Callable[[], bool]


def run_replication(
    doc: Document,
    *,
    seed: int,
    replication: int = 0,
    on_snapshot: SnapshotCallback | None = None,
    should_stop: StopCallback | None = None,
    limits: Limits | None = None,
    feed: Feed | None = None,
) -> dict[str, Any]:
    """Run one replication and return its report (see docs/engine.md).

    Replication r of seed s draws from ``numpy.random.SeedSequence([s, r])``, so the
    web side can run replications on different workers and combine them with
    :func:`combine_reports` into exactly what :func:`simulate` returns.

    The event budget is ``limits.max_events`` split evenly over the document's
    replications; ``limits`` defaults to those the document was parsed with.
    """
    replications = _replication(
        doc,
        seed=seed,
        replication=replication,
        should_stop=should_stop,
        limits=limits,
        seq_start=0,
        progress_span=(0.0, 1.0),
        feed=feed,
    )
    return _drain(replications, on_snapshot)[0]


def _drain(
    snapshots: Generator[Snapshot, None, Any],
    on_snapshot: SnapshotCallback | None,
) -> Any:
    """Run a snapshot generator to its end, handing each snapshot to the callback;
    the generator's return value."""
    run = Stream(snapshots)
    for snap in run:
        if on_snapshot is not None:
            on_snapshot(snap)
    return run.report


def _replication(
    doc: Document,
    *,
    seed: int,
    replication: int,
    should_stop: StopCallback | None,
    limits: Limits | None,
    seq_start: int,
    progress_span: tuple[float, float],
    feed: Feed | None = None,
) -> Generator[Snapshot, None, tuple[dict[str, Any], int]]:
    """One replication: yields its snapshots, returns (report, next seq).

    Stopped by ``should_stop``, it raises ``Cancelled`` with ``partial_report``
    set to the report of what it measured until then (None inside the warm-up).
    """
    limits = limits or doc.limits
    budget = max(limits.max_events // max(doc.simulation.planned_replications, 1), 1)
    sim = Sim(doc, seed, replication)
    horizon = sim.horizon
    p0, p1 = progress_span
    seq = seq_start
    timeline: list[Window] = []
    totals = {"offered": 0, "completed": 0, "errors": 0, "timeouts": 0, "rejected": 0}
    if sim.source.rate_limits:
        totals["rate_limited"] = 0  # 429s, counted in rejected too
    if doc.workload.retry is not None:  # re-sends, give-ups and attempts
        totals.update(retries=0, gave_up=0, attempts=0)
    event_log = sim.ctx.event_log
    events_sent = 0
    watch = WindowWatch(objective_specs(doc.objectives))
    windows = sim.windows(should_stop, budget, feed)
    while True:
        try:
            window, counts, measured = next(windows)
        except StopIteration:
            break
        except Cancelled as stop:
            stop.partial_report = _partial_report(sim, totals, timeline, seed)
            stop.replication = replication
            raise
        if measured:
            for key in totals:
                totals[key] += counts[key]
            timeline.append(window)
            if watch:
                watch.check(window, sim.ctx.event)
        snapshot: Snapshot = {
            "version": SNAPSHOT_VERSION,
            "seq": seq,
            "replication": replication,
            "warmup": not measured,
            "progress": p0 + (p1 - p0) * min(window["t_s"] / horizon, 1.0),
            **window,
        }
        if len(event_log) > events_sent:
            snapshot["event_log"] = event_log[events_sent:]
            events_sent = len(event_log)
        yield snapshot
        seq += 1
    report = build_report(sim, totals, timeline, seed=seed, replication=replication)
    return report, seq


def _partial_report(
    sim: Sim, totals: dict[str, int], timeline: list[Window], seed: int
) -> dict[str, Any] | None:
    """The report of a replication stopped early, over the time it measured."""
    end = sim.env.now
    if end - sim.warmup <= 1e-9 or not timeline:
        return None
    report = build_report(
        sim,
        totals,
        timeline,
        seed=seed,
        replication=sim.ctx.replication,
        duration=end - sim.warmup,
        end=end,
    )
    report["partial"] = {
        "replications_complete": 0,
        "replications_planned": 1,
        "measured_s": report["duration_s"],
    }
    return report


def build_report(
    sim: Sim,
    totals: dict[str, int],
    timeline: list[Window],
    *,
    seed: int,
    replication: int,
    duration: float | None = None,
    end: float | None = None,
) -> dict[str, Any]:
    """A replication's report; ``duration`` and ``end`` say how much of it was
    measured (a whole replication's by default)."""
    duration = sim.duration if duration is None else duration
    end = sim.horizon if end is None else end
    components = {cid: rt.report(duration, end) for cid, rt in sim.components.items()}
    finished = sum(totals[k] for k in ("completed", "errors", "timeouts", "rejected"))
    report: dict[str, Any] = {
        "format": 1,
        "engine_version": ENGINE_VERSION,
        "name": sim.doc.name,
        "seed": seed,
        "replication": replication,
        "replications": 1,
        "duration_s": duration,
        "warmup_s": sim.warmup,
        # requests that arrived in the measured window, and how they ended
        "requests": {**totals, "in_flight": totals["offered"] - finished},
        "throughput_rps": totals["completed"] / duration,
        "latency_ms": sim.source.lat.summary_ms(),
        "components": components,
        "cost": report_cost(sim.doc, components),
        "timeline": timeline,
        "events": sim.events,
        "event_log": sim.ctx.event_log,
    }
    if sim.doc.workload.users is not None:  # a closed workload (ClosedSource)
        report["closed"] = sim.source.report(duration, end)  # type: ignore[attr-defined]
    report["bottleneck"] = bottleneck(sim.doc, components)
    report["warnings"] = sim.warnings + run_warnings(sim.doc, report)
    specs = objective_specs(sim.doc.objectives)
    if specs:
        report["objectives"] = judge(specs, report)
    return _plain(report)


def _plain(value: Any) -> Any:
    """Plain JSON types only (no numpy scalars, no tuples, no NaN)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float) or hasattr(value, "__float__"):
        f = float(value)
        return f if math.isfinite(f) else None
    return value


def simulate(
    doc: Document,
    *,
    seed: int | None = None,
    on_snapshot: SnapshotCallback | None = None,
    should_stop: StopCallback | None = None,
    limits: Limits | None = None,
    feed: Feed | None = None,
) -> dict[str, Any]:
    """Run every replication of ``doc`` in turn and return the combined report.

    ``feed`` injects what-if actions (``simengine.whatif``). Stopped early by
    ``should_stop``, it raises ``Cancelled`` whose ``partial_report`` is what was
    measured (:func:`partial_combined`), or None when nothing was.
    """
    return _drain(
        _replications(
            doc, seed=seed, should_stop=should_stop, limits=limits, feed=feed
        ),
        on_snapshot,
    )


class Stream:
    """A run as an iterator: its snapshots as they are produced, then ``report``.

        run = simengine.stream(doc)
        for snapshot in run:      # the simulation advances as you iterate
            ...
        run.report                # the combined report, once iteration ends

    The same snapshots and report as :func:`simulate` with ``on_snapshot``. Stop
    early by breaking out of the loop (``report`` stays None) or with
    ``should_stop``.
    """

    def __init__(self, snapshots: Generator[Snapshot, None, Any]) -> None:
        self._snapshots = snapshots
        self.report: Any = None  # the generator's return value, once it ends

    def __iter__(self) -> Iterator[Snapshot]:
        return self

    def __next__(self) -> Snapshot:
        try:
            return next(self._snapshots)
        except StopIteration as end:
            self.report = end.value
            raise StopIteration from None


def stream(
    doc: Document,
    *,
    seed: int | None = None,
    should_stop: StopCallback | None = None,
    limits: Limits | None = None,
    feed: Feed | None = None,
) -> Stream:
    """Iterate a run's snapshots while it goes; see :class:`Stream`."""
    return Stream(
        _replications(doc, seed=seed, should_stop=should_stop, limits=limits, feed=feed)
    )


def _replications(
    doc: Document,
    *,
    seed: int | None,
    should_stop: StopCallback | None,
    limits: Limits | None,
    feed: Feed | None = None,
) -> Generator[Snapshot, None, dict[str, Any]]:
    """Every replication in turn: yields the snapshots, returns the combined report."""
    base = doc.simulation.seed if seed is None else seed
    n = doc.simulation.planned_replications
    reports: list[dict[str, Any]] = []
    seq = 0
    for r in range(n):
        if precision_reached(doc, reports):
            break
        try:
            report, seq = yield from _replication(
                doc,
                seed=base,
                replication=r,
                should_stop=should_stop,
                limits=limits,
                seq_start=seq,
                progress_span=(r / n, (r + 1) / n),
                feed=feed,
            )
        except Cancelled as stop:
            stop.partial_report = partial_combined(
                reports, getattr(stop, "partial_report", None), n
            )
            raise
        reports.append(report)
    return with_precision(doc, combine_reports(reports))


def _half_width(values: list[float]) -> tuple[float, float]:
    """(mean, 95% half-width) of replication values (Student t)."""
    k = len(values)
    mean = sum(values) / k
    var = sum((v - mean) ** 2 for v in values) / (k - 1)
    return mean, t95(k - 1) * math.sqrt(var / k)


def precision_reached(doc: Document, reports: list[dict[str, Any]]) -> bool:
    """Whether a run with ``simulation.precision`` may stop after ``reports`` (the
    replications so far, in order): at least the minimum ran and the metric's 95%
    interval is within the asked share of its mean. Always False without it until
    ``replications`` ran (then the loop ends by itself)."""
    sim = doc.simulation
    if sim.precision is None or len(reports) < sim.min_replications:
        return False
    values = [_get(r, sim.precision.metric) for r in reports]
    if any(not isinstance(v, (int, float)) for v in values):
        return False  # e.g. no request completed in one: no latency to judge
    mean, half = _half_width(values)
    return mean != 0 and half / abs(mean) <= sim.precision.within


def with_precision(doc: Document, report: dict[str, Any]) -> dict[str, Any]:
    """The combined report, with ``precision`` (what was asked, what was reached)
    when the document asks for one."""
    precision = doc.simulation.precision
    if precision is None:
        return report
    ci = (report.get("ci95") or {}).get(precision.metric)
    mean = _get(report, precision.metric)
    reached = None
    if ci is not None and isinstance(mean, (int, float)) and mean:
        reached = (ci[1] - ci[0]) / 2 / abs(mean)
    report["precision"] = {
        "metric": precision.metric,
        "within": precision.within,
        "reached": reached,
        "met": reached is not None and reached <= precision.within,
        "replications": report.get("replications", 1),
        "max_replications": doc.simulation.planned_replications,
    }
    return report


def partial_combined(
    complete: list[dict[str, Any]], partial: dict[str, Any] | None, planned: int
) -> dict[str, Any] | None:
    """The report of a run stopped early: the replications that finished, combined
    (the one stopped midway is left out: a shorter replication would weigh as much
    as a whole one), or the stopped one's partial report when none finished."""
    if complete:
        report = combine_reports(complete)
    elif partial is not None:
        report = dict(partial)
    else:
        return None
    report["partial"] = {
        "replications_complete": len(complete),
        "replications_planned": planned,
        "measured_s": report["duration_s"],
    }
    if complete and partial is not None:  # what happened in it still happened
        report["event_log"] = [
            *report.get("event_log", []),
            *partial.get("event_log", []),
        ]
    return report


def simulate_in_processes(
    doc: Document,
    *,
    jobs: int,
    seed: int | None = None,
    limits: Limits | None = None,
    on_replication: Callable[[int, int], None] | None = None,
    feed: Feed | None = None,
) -> dict[str, Any]:
    """:func:`simulate` with the replications spread over ``jobs`` processes.

    The report is the same as :func:`simulate`'s: replication ``r`` draws from
    ``SeedSequence([seed, r])`` wherever it runs, and the reports are combined in
    replication order. No snapshots stream across processes; ``on_replication(done,
    total)`` is called in this process as each replication finishes. The first
    failure (``BudgetExceeded``, ...) cancels the replications not started yet and
    is raised here.
    """
    base = doc.simulation.seed if seed is None else seed
    n = doc.simulation.replications
    if jobs <= 1 or n == 1 or doc.simulation.precision is not None:
        # a precision decides replication by replication: in this process
        return simulate(doc, seed=base, limits=limits, feed=feed)
    # imported here, for --jobs only: multiprocessing adds to every command's start-up
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait

    reports: list[dict[str, Any] | None] = [None] * n
    with ProcessPoolExecutor(max_workers=min(jobs, n)) as pool:
        futures = {
            pool.submit(
                run_replication,
                doc,
                seed=base,
                replication=r,
                limits=limits,
                feed=feed,
            ): r
            for r in range(n)
        }
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in done:
                    reports[futures[future]] = future.result()  # raises a failure
                    if on_replication is not None:
                        on_replication(sum(r is not None for r in reports), n)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return combine_reports([r for r in reports if r is not None])


# --- combining replications -------------------------------------------------------------

# Two-sided 95% Student t quantiles for 1..30 degrees of freedom.
_T95 = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
]  # fmt: skip


def t95(df: int) -> float:
    """Two-sided 95% quantile of Student's t with ``df`` degrees of freedom."""
    if df <= 0:
        return math.inf
    if df <= 30:
        return _T95[df - 1]
    # Cornish-Fisher style expansion around the normal quantile, good to 1e-3
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


_CI_SKIP = {"format", "seed", "replication", "replications", "duration_s", "warmup_s"}


def combine_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over replications, plus ``ci95`` (Student t) for every scalar metric.

    A single report passes through unchanged.
    """
    if not reports:
        raise ValueError("combine_reports needs at least one report")
    if len(reports) == 1:
        return reports[0]
    combined = _mean_tree(reports)
    # every replication's events, in replication order (each carries its index)
    combined["event_log"] = [e for r in reports for e in r.get("event_log", [])]
    n = len(reports)
    ci: dict[str, list[float]] = {}
    for path in _scalar_paths(reports[0]):
        if path.split(".")[0] in _CI_SKIP or path.startswith("timeline"):
            continue
        values = [_get(r, path) for r in reports]
        if any(not isinstance(v, (int, float)) or isinstance(v, bool) for v in values):
            continue
        mean, half = _half_width(values)
        ci[path] = [mean - half, mean + half]
    combined["ci95"] = ci
    combined["replications"] = n
    combined["replication_seeds"] = [[r["seed"], r["replication"]] for r in reports]
    combined.pop("replication", None)
    combined["seed"] = reports[0]["seed"]
    comps = combined.get("components", {})
    best = busiest(comps) if comps else None
    if best is not None:
        chosen = next(
            (r["bottleneck"] for r in reports if r["bottleneck"]["component"] == best),
            reports[0]["bottleneck"],
        )
        combined["bottleneck"] = {
            **chosen,
            "component": best,
            "utilization": component_load(comps[best]),
        }
    warnings: list[str] = []
    for r in reports:
        for w in r.get("warnings", []):
            if w not in warnings:
                warnings.append(w)
    combined["warnings"] = warnings
    if "objectives" in reports[0]:
        # judged again on the means, with each metric's interval beside its verdict
        specs = [
            (c["objective"], c["bound"], c["limit"])
            for c in reports[0]["objectives"]["checks"]
        ]
        combined["objectives"] = judge(specs, combined)
    return combined


def _mean_tree(values: list[Any]) -> Any:
    first = values[0]
    if isinstance(first, dict):
        keys = list(first)
        out = {}
        for k in keys:
            present = [v[k] for v in values if isinstance(v, dict) and k in v]
            out[k] = _mean_tree(present) if len(present) == len(values) else first[k]
        return out
    if isinstance(first, list):
        if (
            all(isinstance(v, list) and len(v) == len(first) for v in values)
            and first
            and all(isinstance(x, dict) for x in first)
        ):
            return [_mean_tree([v[i] for v in values]) for i in range(len(first))]
        return first
    if isinstance(first, bool) or not isinstance(first, (int, float)):
        return first
    if any(v is None or isinstance(v, bool) for v in values):
        return first
    return sum(values) / len(values)


def _scalar_paths(tree: Any, prefix: str = "") -> list[str]:
    out = []
    if isinstance(tree, dict):
        for k, v in tree.items():
            path = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict):
                out.extend(_scalar_paths(v, path))
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                out.append(path)
    return out


def _get(tree: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return None
        tree = tree[part]
    return tree
