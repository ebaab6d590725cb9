"""References and cycles: every name a document uses must be a component of the
right kind, and the calls must not loop.

These checks read the document's tree or its parsed models alike (``get`` reads a
mapping key or a model attribute), so they also run on a document whose fields are
wrong elsewhere: a misspelled field and a dangling reference are reported in one
pass. Values of the wrong shape are skipped here (the field checks name them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ...errors import FieldError
from ..components import call_target
from ..fields import ID_RE
from ..messages import did_you_mean
from ..vocabulary import COMPONENT_TYPES

Edges = dict[str, list[tuple[str, str]]]


def get(obj: Any, name: str) -> Any:
    """A field of a raw mapping or of a parsed model (None when absent)."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _names(value: Any) -> Iterator[tuple[int, str]]:
    """The (index, name) entries of a list of names, skipping any that are not."""
    if isinstance(value, (list, tuple)):
        for i, name in enumerate(value):
            if isinstance(name, str):
                yield i, name


def _kind(comps: Mapping[str, Any], cid: str) -> str | None:
    kind = get(comps[cid], "type")
    return kind if isinstance(kind, str) and kind in COMPONENT_TYPES else None


def _missing(comps: Mapping[str, Any], name: str) -> str:
    return f"no component named {name!r}" + did_you_mean(name, comps)


class _Refs:
    """The errors and call edges found while reading one document's references."""

    def __init__(self, comps: Mapping[str, Any]) -> None:
        self.comps = comps
        self.errors: list[FieldError] = []
        self.edges: Edges = {cid: [] for cid in comps}

    def err(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def link(self, cid: str, name: str, path: str) -> bool:
        """Record the edge cid -> name, or its error; whether the name exists."""
        if name not in self.comps:
            self.err(path, _missing(self.comps, name))
            return False
        return True


def _balancer(refs: _Refs, cid: str, comp: Any, base: str) -> None:
    targets = list(_names(get(comp, "targets")))
    for i, target in targets:
        path = f"{base}.targets[{i}]"
        if not refs.link(cid, target, path):
            continue
        kind = _kind(refs.comps, target)
        if kind not in (None, "service"):
            refs.err(
                path, f"{target!r} is a {kind}; a balancer's targets must be services"
            )
        elif kind == "service":
            refs.edges[cid].append((target, path))
    names = [t for _, t in targets]
    if len(set(names)) != len(names):
        refs.err(f"{base}.targets", "lists a target more than once")
    weights = get(comp, "weights")
    if isinstance(weights, Mapping) and isinstance(get(comp, "targets"), (list, tuple)):
        for name in weights:
            if name not in names:
                refs.err(
                    f"{base}.weights.{name}",
                    f"{name!r} is not one of the targets" + did_you_mean(name, names),
                )


def _calls(value: Any) -> Iterator[tuple[int, str, str]]:
    """(index, name, path suffix) of each entry of ``calls`` naming a component: a
    plain id (``[i]``) or a mapping's ``to`` (``[i].to``)."""
    if isinstance(value, (list, tuple)):
        for i, entry in enumerate(value):
            name = call_target(entry)
            if isinstance(name, str):
                suffix = f"[{i}]" if isinstance(entry, str) else f"[{i}].to"
                yield i, name, suffix


def _service(refs: _Refs, cid: str, comp: Any, base: str) -> None:
    for _i, callee, suffix in _calls(get(comp, "calls")):
        path = f"{base}.calls{suffix}"
        if refs.link(cid, callee, path):
            refs.edges[cid].append((callee, path))


def _cache(refs: _Refs, cid: str, comp: Any, base: str) -> None:
    backing = get(comp, "backing")
    path = f"{base}.backing"
    if not isinstance(backing, str) or not refs.link(cid, backing, path):
        return
    if _kind(refs.comps, backing) == "cache":
        refs.err(path, "must be a database, service or load_balancer")
    else:
        refs.edges[cid].append((backing, path))


def _database(refs: _Refs, cid: str, comp: Any, base: str) -> None:
    """A database names no other component."""


def _queue(refs: _Refs, cid: str, comp: Any, base: str) -> None:
    consumers = get(comp, "consumers")
    path = f"{base}.consumers"
    if not isinstance(consumers, str) or not refs.link(cid, consumers, path):
        return
    kind = _kind(refs.comps, consumers)
    if kind not in (None, "service"):
        refs.err(path, f"{consumers!r} is a {kind}; a queue's consumers is a service")
    elif kind == "service":
        refs.edges[cid].append((consumers, path))


def _cdn(refs: _Refs, cid: str, comp: Any, base: str) -> None:
    origin = get(comp, "origin")
    path = f"{base}.origin"
    if not isinstance(origin, str) or not refs.link(cid, origin, path):
        return
    if _kind(refs.comps, origin) in ("cdn", "queue"):
        refs.err(path, "must be a service, load_balancer, cache or database")
    else:
        refs.edges[cid].append((origin, path))


def _cdn_regions(doc: Any, refs: _Refs) -> None:
    """A cdn serves regions of the workload's clients, each once."""
    regions = get(get(doc, "workload"), "regions")
    known = list(regions) if isinstance(regions, Mapping) else []
    for cid, comp in refs.comps.items():
        if _kind(refs.comps, cid) != "cdn":
            continue
        names = list(_names(get(comp, "regions")))
        for i, name in names:
            if name not in known:
                where = (
                    "workload.regions has "
                    + ", ".join(known)
                    + did_you_mean(name, known)
                    if known
                    else "the workload has no regions (workload.regions)"
                )
                refs.err(
                    f"components.{cid}.regions[{i}]",
                    f"{name!r} is not a client region: {where}",
                )
        served = [n for _, n in names]
        if len(set(served)) != len(served):
            refs.err(f"components.{cid}.regions", "lists a region more than once")
    # the clients reach a cdn in their own region: it is the workload's target,
    # never another component's callee (whose caller's region it could not know)
    cdns = {cid for cid in refs.comps if _kind(refs.comps, cid) == "cdn"}
    if not cdns:
        return
    for cid, comp in refs.comps.items():
        for field in ("calls", "targets"):
            for i, name in _names(get(comp, field)):
                if name in cdns:
                    refs.err(
                        f"components.{cid}.{field}[{i}]",
                        f"{name!r} is a cdn: it stands in front of the clients "
                        "(make it workload.target), not behind another component",
                    )
        for field in ("backing", "consumers"):
            name = get(comp, field)
            if isinstance(name, str) and name in cdns:
                refs.err(
                    f"components.{cid}.{field}",
                    f"{name!r} is a cdn: it stands in front of the clients "
                    "(make it workload.target), not behind another component",
                )


#: The reference check of each component type.
REFERENCES: dict[str, Callable[[_Refs, str, Any, str], None]] = {
    "load_balancer": _balancer,
    "service": _service,
    "cache": _cache,
    "database": _database,
    "queue": _queue,
    "cdn": _cdn,
}


def reference_errors(doc: Any) -> list[FieldError]:
    """Ids, references and cycles of a document (a raw tree or a ``Document``)."""
    comps = get(doc, "components")
    if not isinstance(comps, Mapping):
        return []
    refs = _Refs(comps)
    for cid in comps:
        if not isinstance(cid, str) or not ID_RE.match(cid):
            refs.err(
                f"components.{cid}",
                "id must match [a-z][a-z0-9_-]* (at most 64 characters)",
            )

    target = get(get(doc, "workload"), "target")
    if isinstance(target, str) and target not in comps:
        refs.err("workload.target", _missing(comps, target))

    for cid, comp in comps.items():
        kind = _kind(comps, cid)
        if kind is not None:
            REFERENCES[kind](refs, cid, comp, f"components.{cid}")

    _cdn_regions(doc, refs)
    cycle = find_cycle(refs.edges)
    if cycle is not None:
        names, path = cycle
        refs.err(path, "calls form a cycle: " + " -> ".join(names))

    faults = get(doc, "faults")
    if isinstance(faults, (list, tuple)):
        for i, fault in enumerate(faults):
            name = get(fault, "component")
            if isinstance(name, str) and name not in comps:
                refs.err(f"faults[{i}].component", _missing(comps, name))
    return refs.errors


def find_cycle(edges: Edges) -> tuple[list[str], str] | None:
    """Iterative DFS; returns the cycle's names and the path of its closing edge."""
    state: dict[str, int] = {}
    for root in edges:
        if state.get(root):
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        trail: list[str] = [root]
        state[root] = 1
        while stack:
            node, i = stack[-1]
            if i < len(edges[node]):
                stack[-1] = (node, i + 1)
                nxt, path = edges[node][i]
                if state.get(nxt) == 1:
                    start = trail.index(nxt)
                    return [*trail[start:], nxt], path
                if not state.get(nxt):
                    state[nxt] = 1
                    trail.append(nxt)
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                trail.pop()
                stack.pop()
    return None
