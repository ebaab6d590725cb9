"""What changed between two versions of a scenario: components and headline metrics.

`version_diff` compares two versions' documents as the engine reads them: each text is
parsed (`simengine.parse_document`) and dumped with every default filled in, so
``instances: 2`` against an absent ``instances`` whose default is 2 is *not* a change,
``work_ms: 10`` equals ``work_ms: {dist: exponential, mean: 10}``, and ``rps: 200``
equals ``rps: 200.0``. A text that does not parse (an old version saved under an older
format, or a user's unsaved text in a save conflict) is compared as its raw YAML/JSON
tree instead (`simengine.load_document_tree`), without defaults; `VersionDiff.raw` says
which side that was. A text that cannot even be read compares as empty.

Fields are named by dotted path: a component's by its id first (``web.instances``,
``web.work_ms.mean``), the rest by section (``workload.rps``, ``simulation.seed``).
Mappings are compared key by key; lists (``targets``, ``calls``, ``phases``,
``faults``) compare as whole values. `FieldChange.old` or `.new` is None where the
field is absent (or null) on that side.

`metrics_compare` puts the headline metrics of each version's latest succeeded run side
by side (throughput, p50/p99 latency, error rate, cost per hour, bottleneck) with their
deltas and whether the change is for the better.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import simengine
from dashboard.runs.models import Run
from dashboard.scenarios import designer
from dashboard.scenarios.models import ScenarioVersion

# Top-level keys that are neither components nor settings (the format's version).
_SKIPPED = {"scaleboard", "components"}


def value_text(value: Any) -> str:
    """A field's value as a page shows it: "—" when absent, lists as JSON."""
    if value is None:
        return "\u2014"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


@dataclass(frozen=True)
class FieldChange:
    path: str
    old: Any
    new: Any

    @property
    def old_text(self) -> str:
        return value_text(self.old)

    @property
    def new_text(self) -> str:
        return value_text(self.new)


@dataclass(frozen=True)
class ComponentChange:
    id: str
    fields: list[FieldChange]


@dataclass
class VersionDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[ComponentChange] = field(default_factory=list)
    # Everything outside `components`: name, description, simulation, workload,
    # network, faults, objectives.
    settings: list[FieldChange] = field(default_factory=list)
    # Sides ("old", "new") that did not parse and were compared as raw trees.
    raw: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.settings)


@dataclass(frozen=True)
class MetricRow:
    label: str
    old: Any
    new: Any
    delta: float | None
    unit: str
    # True when `new` is better than `old`, False when worse, None when equal or
    # when the metric has no direction (the bottleneck).
    better: bool | None
    # A word for a change without a direction ("moved": another bottleneck).
    note: str = ""

    @property
    def old_text(self) -> str:
        return _metric_text(self.old)

    @property
    def new_text(self) -> str:
        return _metric_text(self.new)

    @property
    def delta_text(self) -> str:
        if self.delta is None:
            return "" if isinstance(self.old, str) else "\u2014"
        return "\u00b10" if self.delta == 0 else f"{self.delta:+,.2f}"


def _metric_text(value: Any) -> str:
    if value is None:
        return "\u2014"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def document_tree(text: str) -> tuple[dict[str, Any], bool]:
    """`text` as a plain tree with defaults filled in, and whether it parsed.

    Falls back to the raw YAML/JSON tree (no defaults) when the document does not
    validate, and to an empty tree when it cannot be read at all.
    """
    try:
        return simengine.parse_document(text).model_dump(mode="json"), True
    except simengine.DocumentError:
        pass
    try:
        tree = simengine.load_document_tree(text)
    except simengine.DocumentError:
        return {}, False
    return _plain(tree), False


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _leaf_changes(old: Any, new: Any, path: str) -> list[FieldChange]:
    """Changed leaves under `path`: mappings key by key, anything else as a whole."""
    if (isinstance(old, Mapping) and isinstance(new, Mapping)) or (
        (isinstance(old, Mapping) and new is None)
        or (isinstance(new, Mapping) and old is None)
    ):
        a = old if isinstance(old, Mapping) else {}
        b = new if isinstance(new, Mapping) else {}
        if not a and not b and old != new:
            return [FieldChange(path, old, new)]
        out: list[FieldChange] = []
        for key in list(a) + [k for k in b if k not in a]:
            sub = f"{path}.{key}" if path else str(key)
            out.extend(_leaf_changes(a.get(key), b.get(key), sub))
        return out
    if old != new:
        return [FieldChange(path, old, new)]
    return []


def document_diff(*, old_text: str, new_text: str) -> VersionDiff:
    """The diff of two document texts (see the module docstring)."""
    old, old_parsed = document_tree(old_text)
    new, new_parsed = document_tree(new_text)
    diff = VersionDiff(
        raw=[side for side, ok in (("old", old_parsed), ("new", new_parsed)) if not ok]
    )
    old_comps = old.get("components") if isinstance(old.get("components"), dict) else {}
    new_comps = new.get("components") if isinstance(new.get("components"), dict) else {}
    diff.added = [cid for cid in new_comps if cid not in old_comps]
    diff.removed = [cid for cid in old_comps if cid not in new_comps]
    for cid in old_comps:
        if cid in new_comps:
            changes = _leaf_changes(old_comps[cid], new_comps[cid], cid)
            if changes:
                diff.changed.append(ComponentChange(id=cid, fields=changes))
    keys = [k for k in old if k not in _SKIPPED]
    keys += [k for k in new if k not in _SKIPPED and k not in old]
    for key in keys:
        diff.settings.extend(_leaf_changes(old.get(key), new.get(key), key))
    return diff


def version_diff(*, old: ScenarioVersion, new: ScenarioVersion) -> VersionDiff:
    """What changed from version `old` to version `new` (of any scenarios)."""
    return document_diff(old_text=old.document_text, new_text=new.document_text)


def latest_succeeded_run(version: ScenarioVersion) -> Run | None:
    """The version's most recent succeeded run with a report, or None."""
    return (
        Run.objects.filter(
            version=version, status=Run.Status.SUCCEEDED, report__isnull=False
        )
        .order_by("-finished_at", "-created_at")
        .first()
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _error_rate_pct(report: Mapping[str, Any]) -> float | None:
    """(errors + timeouts + rejected) / offered, in percent (the objectives' rate)."""
    req = report.get("requests")
    if not isinstance(req, Mapping):
        return None
    offered = _number(req.get("offered"))
    if offered is None:
        return None
    if offered <= 0:
        return 0.0
    failed = sum(_number(req.get(k)) or 0.0 for k in ("errors", "timeouts", "rejected"))
    return 100.0 * failed / offered


def _latency(report: Mapping[str, Any], key: str) -> float | None:
    lat = report.get("latency_ms")
    return _number(lat.get(key)) if isinstance(lat, Mapping) else None


def _cost(report: Mapping[str, Any]) -> float | None:
    cost = report.get("cost")
    return _number(cost.get("per_hour")) if isinstance(cost, Mapping) else None


def _neck_component(report: Mapping[str, Any]) -> str | None:
    neck = report.get("bottleneck")
    return str(neck.get("component") or "") if isinstance(neck, Mapping) else None


def _bottleneck(report: Mapping[str, Any]) -> str:
    neck = report.get("bottleneck")
    if not isinstance(neck, Mapping) or not neck.get("component"):
        return "none"
    util = _number(neck.get("utilization"))
    name = str(neck["component"])
    return f"{name} at {util:.0%}" if util is not None else name


# label, unit, value of a report, whether higher is better.
_NUMERIC: list[tuple[str, str, Any, bool]] = [
    ("Throughput", "req/s", lambda r: _number(r.get("throughput_rps")), True),
    ("Latency p50", "ms", lambda r: _latency(r, "p50"), False),
    ("Latency p99", "ms", lambda r: _latency(r, "p99"), False),
    ("Error rate", "%", _error_rate_pct, False),
    ("Cost per hour", "$/h", _cost, False),
]


def report_metrics_compare(
    *, old: Mapping[str, Any], new: Mapping[str, Any]
) -> list[MetricRow]:
    """The headline metric rows of two reports (`new` minus `old` as the delta)."""
    rows: list[MetricRow] = []
    for label, unit, value, higher_is_better in _NUMERIC:
        a, b = value(old), value(new)
        delta = b - a if a is not None and b is not None else None
        better = None
        if delta:
            better = (delta > 0) == higher_is_better
        rows.append(MetricRow(label, a, b, delta, unit, better))
    moved = _neck_component(old) != _neck_component(new)
    rows.append(
        MetricRow(
            "Bottleneck",
            _bottleneck(old),
            _bottleneck(new),
            None,
            "",
            None,
            "moved" if moved else "",
        )
    )
    return rows


def metrics_compare(*, old: ScenarioVersion, new: ScenarioVersion) -> list[MetricRow]:
    """Headline metrics of each version's latest succeeded run side by side; empty
    when either version has no succeeded run."""
    run_old, run_new = latest_succeeded_run(old), latest_succeeded_run(new)
    if run_old is None or run_new is None:
        return []
    return report_metrics_compare(old=run_old.report, new=run_new.report)


def text_diff(*, old_text: str, new_text: str, old_name: str, new_name: str) -> str:
    """A unified diff of two texts, for when a text cannot be compared as a document."""
    lines = difflib.unified_diff(
        old_text.splitlines(keepends=True),
        new_text.splitlines(keepends=True),
        fromfile=old_name,
        tofile=new_name,
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _graph(text: str) -> dict:
    tree, _doc, _errors = designer.parse(text)
    return (
        designer.document_graph(tree)
        if tree is not None
        else {"nodes": [], "edges": []}
    )


def diff_graph(
    *, old: ScenarioVersion, new: ScenarioVersion, diff: VersionDiff
) -> dict[str, Any]:
    """The canvas of a diff: the union of both versions' graphs (the designer's
    `document_graph`), each node and edge with a `status` (added, removed, changed or
    same), and the positions of the newer layout (the older one's for removed nodes)."""
    old_graph, new_graph = _graph(old.document_text), _graph(new.document_text)
    added = set(diff.added)
    changed = {c.id for c in diff.changed}
    nodes = []
    for node in new_graph["nodes"]:
        nid = node["id"]
        status = "added" if nid in added else "changed" if nid in changed else "same"
        nodes.append({**node, "status": status})
    new_ids = {n["id"] for n in new_graph["nodes"]}
    nodes += [
        {**n, "status": "removed"} for n in old_graph["nodes"] if n["id"] not in new_ids
    ]
    old_edges = {e["id"] for e in old_graph["edges"]}
    new_edges = {e["id"] for e in new_graph["edges"]}
    edges = [
        {**e, "status": "same" if e["id"] in old_edges else "added"}
        for e in new_graph["edges"]
    ]
    edges += [
        {**e, "status": "removed"}
        for e in old_graph["edges"]
        if e["id"] not in new_edges
    ]
    positions: dict[str, Any] = {}
    for layout in (old.layout, new.layout):
        if isinstance(layout, dict) and isinstance(layout.get("positions"), dict):
            positions.update(layout["positions"])
    return {"nodes": nodes, "edges": edges, "positions": positions}
