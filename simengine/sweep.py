"""Sweeps and capacity: one numeric field of a document varied, every point simulated.

A field is addressed by its dotted path in the document (``workload.rps``,
``components.web.instances``, ``components.cache.capacity_keys``,
``workload.phases[1].rps``). :func:`sweep` runs the document with the field set to each
value (every point with the document's replications) and returns

    {"vary": PATH, "points": [{"value": V, "report": R}, ...]}

where ``R`` is exactly what :func:`simengine.simulate` returns (``run --json`` prints)
for the document with that field set to ``V``. :func:`capacity` finds the largest value
for which every objective of the document's ``objectives`` block holds: the instant
estimate brackets it, simulations decide, a bisection narrows it to ``resolution`` (a
fraction of the value, 1% by default). A bad path, a value the field refuses, a range
that is empty or a document without objectives is a :class:`DocumentError` naming it.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from .advice import busiest, component_load
from .document import Document, load_document_tree, parse_document
from .errors import DocumentError, FieldError
from .limits import Limits
from .runner import simulate

_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)((?:\[\d+\])*)")
#: The most points one sweep or capacity search may simulate.
MAX_POINTS = 200

PointCallback = Callable[[dict[str, Any]], None]


def path_parts(path: str) -> list[str | int]:
    """``"workload.phases[1].rps"`` -> ``["workload", "phases", 1, "rps"]``."""
    parts: list[str | int] = []
    if not isinstance(path, str) or not path or len(path) > 300:
        raise DocumentError.single(
            "--vary", "must be a dotted field path like workload.rps"
        )
    for piece in path.split("."):
        match = _PART.fullmatch(piece)
        if match is None:
            raise DocumentError.single(
                "--vary",
                f"{path!r} is not a field path: use names and [index] joined by dots, "
                "like workload.rps or workload.phases[0].rps",
            )
        parts.append(match.group(1))
        parts.extend(int(i) for i in re.findall(r"\[(\d+)\]", match.group(2)))
    return parts


def _show(parts: list[str | int]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


def with_value(tree: Mapping[str, Any], path: str, value: float) -> dict[str, Any]:
    """A copy of ``tree`` with the field at ``path`` set to ``value`` (missing
    mappings on the way are made, so a field left to its default can be varied)."""
    parts = path_parts(path)
    out = copy.deepcopy(dict(tree))
    node: Any = out
    for depth, part in enumerate(parts[:-1]):
        nxt = parts[depth + 1]
        here = _show(parts[: depth + 1])
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                size = len(node) if isinstance(node, list) else 0
                raise DocumentError.single(
                    path, f"{here} is not there (the list has {size} entries)"
                )
            if not isinstance(node[part], (dict, list)):
                raise DocumentError.single(path, f"{here} is not a mapping")
            node = node[part]
            continue
        if not isinstance(node, dict):
            raise DocumentError.single(path, f"{_show(parts[:depth])} is not a mapping")
        child = node.get(part)
        if child is None:
            child = [] if isinstance(nxt, int) else {}
            node[part] = child
        elif isinstance(nxt, int) and not isinstance(child, list):
            raise DocumentError.single(path, f"{here} is not a list")
        elif isinstance(nxt, str) and not isinstance(child, dict):
            raise DocumentError.single(
                path,
                f"{here} is {child!r}, not a mapping: vary {here} itself",
            )
        node = child
    last = parts[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            raise DocumentError.single(path, f"{_show(parts)} is not there")
    elif not isinstance(node, dict):
        raise DocumentError.single(path, f"{_show(parts[:-1])} is not a mapping")
    old = node[last] if isinstance(node, list) else node.get(last)
    if isinstance(old, (dict, list)):
        raise DocumentError.single(
            path,
            f"is a {'list' if isinstance(old, list) else 'mapping'}, "
            "not a number: vary one of its numeric fields",
        )
    node[last] = value
    return out


def _parsed_value(doc: Document, parts: list[str | int]) -> Any:
    node: Any = doc
    for part in parts:
        if isinstance(part, int) or isinstance(node, Mapping):
            node = node[part]
        else:
            node = getattr(node, part)
    return node


def _number(value: float) -> int | float:
    """An integral value as an int (an instance count), any other as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(value)
    if not math.isfinite(value):
        raise DocumentError.single("--values", f"must be finite numbers (got {value})")
    return int(value) if float(value).is_integer() else float(value)


def point_document(
    tree: Mapping[str, Any], path: str, value: float, limits: Limits | None = None
) -> Document:
    """The document with the field at ``path`` set to ``value``, parsed; errors name
    the path and the value (``components.web.instances = 0: must be >= 1``)."""
    parts = path_parts(path)
    value = _number(value)
    try:
        doc = parse_document(with_value(tree, path, value), limits=limits)
    except DocumentError as exc:
        shown = _show(parts)
        mine = [e for e in exc.errors if e.path == shown or e.path.startswith(shown)]
        errors = mine or exc.errors
        raise DocumentError(
            [
                FieldError(e.path, f"{e.message} (with {shown} = {value:g})")
                for e in errors
            ]
        ) from None
    current = _parsed_value(doc, parts)
    if isinstance(current, bool) or not isinstance(current, (int, float)):
        raise DocumentError.single(
            _show(parts), "is not a number: only numeric fields can be varied"
        )
    return doc


def sweep_values(
    *,
    values: list[float] | None = None,
    start: float | None = None,
    stop: float | None = None,
    steps: int | None = None,
) -> list[int | float]:
    """The points: a list, or ``steps`` evenly spaced from ``start`` to ``stop``
    (both included; integral points stay integers)."""
    if values is not None:
        if not values:
            raise DocumentError.single("--values", "needs at least one value")
        out = [_number(v) for v in values]
    else:
        if start is None or stop is None or steps is None:
            raise DocumentError.single(
                "--from", "give --values, or --from, --to and --steps together"
            )
        if steps < 1:
            raise DocumentError.single("--steps", f"must be at least 1 (got {steps})")
        if not (math.isfinite(start) and math.isfinite(stop)):
            raise DocumentError.single("--from", "must be finite numbers")
        if steps == 1:
            out = [_number(start)]
        else:
            width = (stop - start) / (steps - 1)
            out = [_number(round(start + i * width, 12)) for i in range(steps)]
    if len(out) > MAX_POINTS:
        raise DocumentError.single(
            "--steps", f"a sweep has at most {MAX_POINTS} points (got {len(out)})"
        )
    return out


def phase_warning(source: str | bytes | Mapping[str, Any], path: str) -> str | None:
    """A sentence for a sweep of ``workload.rps`` in a document with phases: the
    phases keep their own rates, so the varied rate holds only until the first one."""
    if path != "workload.rps":
        return None
    tree = load_document_tree(source)
    workload = tree.get("workload") if isinstance(tree, Mapping) else None
    phases = workload.get("phases") if isinstance(workload, Mapping) else None
    if not phases:
        return None
    first = phases[0].get("at_s") if isinstance(phases[0], Mapping) else None
    until = f" (until {first:g} s)" if isinstance(first, (int, float)) else ""
    return (
        f"workload.rps is the rate before the first phase{until}; the "
        f"{len(phases)} phase(s) keep their own rates, so each point runs at the varied "
        "rate only that long: to scale the whole day, vary a document without phases "
        "or the phases' rps too"
    )


def _simulate_point(doc: Document, seed: int | None) -> dict[str, Any]:
    return simulate(doc, seed=seed)


def _run_points(
    docs: list[tuple[int | float, Document]],
    *,
    jobs: int,
    seed: int | None,
    on_point: PointCallback | None,
) -> list[dict[str, Any]]:
    points: list[dict[str, Any] | None] = [None] * len(docs)
    if jobs <= 1 or len(docs) == 1:
        for i, (value, doc) in enumerate(docs):
            points[i] = {"value": value, "report": simulate(doc, seed=seed)}
            if on_point is not None:
                on_point(points[i])
        return [p for p in points if p is not None]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=min(jobs, len(docs))) as pool:
        futures = [pool.submit(_simulate_point, doc, seed) for _, doc in docs]
        for i, future in enumerate(
            futures
        ):  # in order: the output does not depend on jobs
            points[i] = {"value": docs[i][0], "report": future.result()}
            if on_point is not None:
                on_point(points[i])
    return [p for p in points if p is not None]


def sweep(
    source: str | bytes | Mapping[str, Any],
    path: str,
    values: list[float],
    *,
    jobs: int = 1,
    seed: int | None = None,
    limits: Limits | None = None,
    on_point: PointCallback | None = None,
) -> dict[str, Any]:
    """Simulate the document with ``path`` set to each of ``values`` (see the module
    docstring). Every point is checked before the first one runs."""
    tree = load_document_tree(source, limits=limits)
    points = sweep_values(values=list(values))
    docs = [(v, point_document(tree, path, v, limits)) for v in points]
    return {
        "vary": path,
        "points": _run_points(docs, jobs=jobs, seed=seed, on_point=on_point),
    }


# --- capacity -----------------------------------------------------------------------


def _met(report: dict[str, Any]) -> bool:
    return bool(report.get("objectives", {}).get("met"))


def _failing(report: dict[str, Any]) -> dict[str, Any] | None:
    for check in report.get("objectives", {}).get("checks", []):
        if not check["met"]:
            return check
    return None


def _bracket(doc: Document, path: str, current: float) -> tuple[float, float]:
    """Where the search starts when the caller gives no range: for the arrival rate,
    from a tenth of the estimate's saturation rate to just past it; for any other
    field, from a tenth of its value to ten times it."""
    if path == "workload.rps":
        from .analytic import estimate

        bottleneck = estimate(doc).get("bottleneck") or {}
        sat = bottleneck.get("capacity_rps")
        if isinstance(sat, (int, float)) and sat > 0 and math.isfinite(sat):
            return sat / 10, sat * 1.05
    if current > 0:
        return current / 10, current * 10
    raise DocumentError.single(
        "--low", f"{path} is {current:g} in the document: give --low and --high"
    )


class CapacitySearch:
    """The capacity search as steps, for callers that simulate the points elsewhere
    (the dashboard fans them out over workers)::

        search = CapacitySearch(tree, "workload.rps")
        while not search.done:
            for value in search.next_values():        # a round: simulate them all
                search.record(value, report_of(search.document(value)))
        search.result()

    ``next_values`` depends only on what was recorded, so a search can be rebuilt by
    recording its points again. The first round is the bracket (low, high); a low end
    that misses the objectives raises ``DocumentError`` from ``record``. ``batch``
    points a round (bisecting into batch + 1 parts) shrink the bracket faster when
    they run at once.
    """

    def __init__(
        self,
        source: str | bytes | Mapping[str, Any],
        path: str,
        *,
        low: float | None = None,
        high: float | None = None,
        resolution: float = 0.01,
        batch: int = 1,
        limits: Limits | None = None,
    ) -> None:
        self.tree = load_document_tree(source, limits=limits)
        self.path = path
        self.limits = limits
        if not 0 < resolution < 1:
            raise DocumentError.single(
                "--resolution", f"must be between 0 and 1 (got {resolution:g})"
            )
        self.resolution = resolution
        self.batch = max(1, min(int(batch), 7))
        parts = path_parts(path)
        base = parse_document(self.tree, limits=limits)
        if base.objectives is None or not _specs(base):
            raise DocumentError.single(
                "objectives",
                "the document sets no objectives: capacity is the largest value for "
                "which they all hold, so add some (e.g. objectives: {latency_ms: "
                "{p99: 250}})",
            )
        try:
            current = _parsed_value(base, parts)
        except (AttributeError, KeyError, IndexError, TypeError):
            point_document(self.tree, path, 1, limits)  # the document's own words
            raise DocumentError.single(path, "is not a field of the document") from None
        if current is None and low is not None and high is not None:
            current = low  # an optional field left out: the range says what it takes
        if isinstance(current, bool) or not isinstance(current, (int, float)):
            raise DocumentError.single(
                path,
                "is not set in the document: give --low and --high"
                if current is None
                else "is not a number: only numeric fields can be varied",
            )
        self.integral = isinstance(current, int)
        if low is None or high is None:
            guess_low, guess_high = _bracket(base, path, float(current))
            low = guess_low if low is None else low
            high = guess_high if high is None else high
        if self.integral:
            low, high = max(math.floor(low), 0), math.ceil(high)
        if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
            raise DocumentError.single(
                "--low", f"must be below --high (got {low:g} and {high:g})"
            )
        self.low, self.high = _number(low), _number(high)
        self.points: list[dict[str, Any]] = []
        self.good: dict[str, Any] | None = None
        self.bad: dict[str, Any] | None = None
        self.whole_range = False

    def document(self, value: float) -> Document:
        """The document of one point (errors name the path and the value)."""
        return point_document(self.tree, self.path, value, self.limits)

    def _recorded(self, value: float) -> dict[str, Any] | None:
        return next((p for p in self.points if p["value"] == value), None)

    @property
    def done(self) -> bool:
        if self.whole_range:
            return True
        if self.good is None or self.bad is None:
            return False
        a, b = self.good["value"], self.bad["value"]
        if self.integral:
            return b - a <= 1
        return (b - a) <= self.resolution * max(abs(a), 1e-12)

    def next_values(self) -> list[int | float]:
        """The round to simulate now: the values not recorded yet ([] when done)."""
        if self.done:
            return []
        if self.good is None or self.bad is None:
            wanted = [self.low, self.high]
        else:
            a, b = self.good["value"], self.bad["value"]
            if self.integral:
                wanted = [(a + b) // 2]
            else:
                k = self.batch
                wanted = [_number(a + (b - a) * (i + 1) / (k + 1)) for i in range(k)]
        if len(self.points) + len(wanted) > MAX_POINTS:
            raise DocumentError.single(
                "--resolution", "the search needs too many points"
            )
        return [v for v in wanted if self._recorded(v) is None]

    def record(self, value: float, report: dict[str, Any]) -> dict[str, Any]:
        """One simulated point; returns it (``value``, ``met``, ``report``)."""
        point = {"value": _number(value), "met": _met(report), "report": report}
        self.points.append(point)
        lo, hi = self._recorded(self.low), self._recorded(self.high)
        if self.good is None or self.bad is None:
            if lo is not None and not lo["met"]:
                check = _failing(lo["report"]) or {}
                raise DocumentError.single(
                    "--low",
                    f"even the low end misses the objectives: at {self.path} = "
                    f"{self.low:g}, {_broken(check)}; lower --low (capacity is the "
                    "largest value that holds, for a field where more is harder, like "
                    "workload.rps)",
                )
            if lo is not None and hi is not None:
                if hi["met"]:
                    self.whole_range = True
                else:
                    self.good, self.bad = lo, hi
            return point
        good, bad = self.good, self.bad
        if point["met"] and good["value"] < point["value"] < bad["value"]:
            self.good = point
        elif not point["met"] and self.good["value"] < point["value"] < bad["value"]:
            self.bad = point
        return point

    def result(self) -> dict[str, Any]:
        """The answer (see :func:`capacity`); only once ``done``."""
        points = sorted(self.points, key=lambda p: p["value"])
        if self.whole_range:
            return {
                "vary": self.path,
                "max_value": self.high,
                "resolution": self.resolution,
                "limited_by": None,
                "note": "every objective holds over the whole range: the capacity is "
                f"above {self.high:g}; raise --high",
                "points": points,
            }
        good, bad = self.good, self.bad
        assert good is not None and bad is not None
        check = _failing(bad["report"]) or {}
        comps = bad["report"].get("components") or {}
        component = (
            check.get("component")
            or (bad["report"].get("bottleneck") or {}).get("component")
            or busiest(comps)
        )
        return {
            "vary": self.path,
            "max_value": good["value"],
            "resolution": self.resolution,
            "limited_by": {
                "objective": check.get("objective"),
                "limit": check.get("limit"),
                "value": check.get("value"),
                "at": bad["value"],
                "component": component,
                "utilization": component_load(comps[component])
                if component in comps
                else None,
            },
            "points": points,
        }


def capacity(
    source: str | bytes | Mapping[str, Any],
    path: str,
    *,
    low: float | None = None,
    high: float | None = None,
    resolution: float = 0.01,
    jobs: int = 1,
    seed: int | None = None,
    limits: Limits | None = None,
    on_point: PointCallback | None = None,
) -> dict[str, Any]:
    """The largest value of ``path`` for which every objective holds (see the module
    docstring)::

        {"vary": PATH, "max_value": X, "resolution": D, "limited_by": {...} | None,
         "points": [{"value": V, "met": bool, "report": R}, ...]}

    ``resolution`` is relative: the boundary lies in [X, X * (1 + resolution)).
    ``limited_by`` names the objective and the component that fail first above X
    (None when the whole range holds: ``max_value`` is then ``high``, with a note).
    Integer fields (instances, ...) are searched over integers. The steps are
    :class:`CapacitySearch`'s, each round's points simulated here (``jobs`` at once).
    """
    search = CapacitySearch(
        source,
        path,
        low=low,
        high=high,
        resolution=resolution,
        batch=jobs,
        limits=limits,
    )
    while not search.done:
        values = search.next_values()
        docs = [(v, search.document(v)) for v in values]
        for p in _run_points(docs, jobs=jobs, seed=seed, on_point=None):
            point = search.record(p["value"], p["report"])
            if on_point is not None:
                on_point(point)
    return search.result()


def _broken(check: dict[str, Any]) -> str:
    from .objectives import format_value

    objective = check.get("objective") or "an objective"
    return (
        f"{objective} is {format_value(objective, check.get('value'))} against "
        f"{format_value(objective, check.get('limit'))}"
    )


def _specs(doc: Document) -> list:
    from .objectives import objective_specs

    return objective_specs(doc.objectives)
