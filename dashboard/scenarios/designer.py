"""The designer's server side: document text <-> tree, the graph, exports, estimate.

The YAML text stays the single source of truth. The browser edits the document's tree
(the parsed YAML as plain JSON) and sends it here; this module writes it back as YAML,
validates it with the engine, and returns the graph to draw and the instant estimate.
Nothing here writes to the database: saving is the editor's "Save version".
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import yaml

import simengine
from dashboard.inputs import unstorable

#: The canvas node standing for the workload's clients (not a valid component id).
CLIENTS_ID = "__clients__"
COMPONENT_TYPES = simengine.vocabulary.COMPONENT_TYPES
MAX_BODY_BYTES = simengine.Limits().max_bytes + 64_000
MAX_DEPTH = simengine.Limits().max_depth + 4
MAX_LAYOUT_NODES = simengine.Limits().max_components + 1

TYPE_LABELS = {
    "load_balancer": "Load balancer",
    "service": "Service",
    "cache": "Cache",
    "database": "Database",
    "queue": "Queue",
    "cdn": "CDN",
}


def vocabulary() -> dict[str, Any]:
    """The document's vocabularies for the designer's JavaScript (a ``json_script``),
    with the label of each component type: the browser never repeats them."""
    return {
        **{name: list(values) for name, values in simengine.VOCABULARY.items()},
        "type_labels": {kind: TYPE_LABELS[kind] for kind in COMPONENT_TYPES},
    }


# --- YAML out ----------------------------------------------------------------------


_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when present


class _Dumper(_BaseDumper):
    """Block style for structure; flow style for short mappings of scalars
    (``work_ms: {dist: exponential, mean: 8}``) and lists of scalars
    (``targets: [web]``); keys in the order given; never anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _is_leafy(value: Any) -> bool:
    return _is_scalar(value) or (
        isinstance(value, list) and len(value) <= 8 and all(map(_is_scalar, value))
    )


def _represent_dict(dumper: yaml.SafeDumper, data: dict) -> yaml.Node:
    flow = (
        0 < len(data) <= 6
        and all(_is_leafy(v) for v in data.values())
        and len(json.dumps(data, default=str)) <= 72
    )
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=flow)


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = all(_is_scalar(v) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


class _Root(dict):
    """The top of the document: always block style."""


def _represent_root(dumper: yaml.SafeDumper, data: dict) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=False)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(dict, _represent_dict)
_Dumper.add_representer(_Root, _represent_root)
_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(str, _represent_str)


def tree_to_text(tree: dict) -> str:
    """The document tree as YAML text, one top-level section after another."""
    return yaml.dump(
        _Root(tree), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=88
    )


# --- text / JSON in ------------------------------------------------------------------


class BadRequest(ValueError):
    """A request the designer cannot read at all (not a document problem)."""


def read_json_body(body: bytes) -> dict:
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest(f"request body over {MAX_BODY_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("request body is not UTF-8") from None
    if simengine.json_depth(text) > MAX_DEPTH:
        raise BadRequest(f"request nested more than {MAX_DEPTH} levels")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise BadRequest("request body is not JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    try:  # "\ud800" escapes decode to lone surrogates, which nothing can encode
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(
            "request body has a lone surrogate escape (such as \\ud800): "
            "not Unicode text"
        ) from None
    return data


def _errors(exc: simengine.DocumentError) -> list[dict]:
    return [{"path": e.path, "message": e.message} for e in exc.errors]


def parse(text: str) -> tuple[dict | None, simengine.Document | None, list[dict]]:
    """(tree, validated document, errors) of document text.

    The tree is the raw parsed mapping, returned also for a document with field
    errors so the canvas can still show it; it is None when the text itself could
    not be read safely (syntax, size, depth: errors on "(document)").
    """
    try:
        tree = dict(simengine.load_document_tree(text))
    except simengine.DocumentError as exc:
        return None, None, _errors(exc)
    try:
        return tree, simengine.parse_document(tree), []
    except simengine.DocumentError as exc:
        errors = _errors(exc)
        if any(e["path"] == "(document)" for e in errors):
            return None, None, errors  # e.g. too many nodes once aliases expand
        return tree, None, errors


def apply(*, text: str | None = None, tree: Any = None, fmt: str = "yaml") -> dict:
    """The designer's round trip. Give the text (typed in the YAML view) or a tree
    (edited on the canvas, written back as ``fmt``: yaml or json); get back the
    text, tree, graph, errors and estimate."""
    if tree is not None:
        if not isinstance(tree, dict):
            raise BadRequest("tree must be a JSON object")
        if fmt == "json":
            text = json.dumps(tree, indent=2, ensure_ascii=False) + "\n"
        elif fmt == "yaml":
            text = tree_to_text(tree)
        else:
            raise BadRequest("format must be yaml or json")
    if text is None:
        raise BadRequest("give a document text or tree")
    parsed, doc, errors = parse(text)
    result: dict[str, Any] = {
        "text": text,
        "tree": parsed,
        "valid": doc is not None,
        "errors": errors,
        "graph": document_graph(parsed) if parsed is not None else None,
        "estimate": None,
        "mermaid": document_mermaid(parsed) if parsed is not None else None,
    }
    if doc is not None:
        result["estimate"] = simengine.estimate(doc)
    return result


# --- the graph ------------------------------------------------------------------------


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _sublabel(comp: dict) -> str:
    kind = comp.get("type")
    if kind == "service":
        inst, cores = comp.get("instances", 1), comp.get("cores", 1)
        return f"{_num(inst)} \u00d7 {_num(cores)} cores"
    if kind == "database":
        primary = comp.get("primary") if isinstance(comp.get("primary"), dict) else {}
        parts = [f"{_num(primary.get('cores', 8))} cores"]
        replicas = comp.get("replicas")
        if isinstance(replicas, dict) and replicas.get("count"):
            parts.append(f"{_num(replicas['count'])} replicas")
        shards = comp.get("shards")
        if isinstance(shards, dict) and shards.get("count", 1) not in (1, None):
            parts.append(f"{_num(shards['count'])} shards")
        return " · ".join(parts)
    if kind == "cache":
        cap = comp.get("capacity_keys", 100_000)
        nodes = comp.get("nodes", 1)
        text = f"{_short(cap)} keys"
        return text + (f" · {_num(nodes)} nodes" if nodes not in (1, None) else "")
    if kind == "load_balancer":
        return str(comp.get("algorithm", "round_robin")).replace("_", " ")
    if kind == "cdn":
        regions = _names(comp.get("regions"))
        text = f"{_short(comp.get('capacity_keys', 100_000))} keys"
        return text + (f" · {', '.join(regions)}" if regions else "")
    if kind == "queue":
        text = f"{_num(comp.get('concurrency', 1))} at once"
        cap = comp.get("capacity")
        return text + (f" · {_short(cap)} max" if cap is not None else "")
    return ""


def _short(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return str(value)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            return f"{value / div:g}{suffix}"
    return _num(value)


def _names(value: Any) -> list[str]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def document_graph(tree: dict) -> dict:
    """Nodes and edges of a (possibly invalid) document tree, for the canvas."""
    comps = tree.get("components")
    comps = comps if isinstance(comps, dict) else {}
    nodes = [{"id": CLIENTS_ID, "type": "clients", "label": "Clients", "sub": ""}]
    edges = []
    for cid, comp in comps.items():
        if not isinstance(cid, str):
            continue
        comp = comp if isinstance(comp, dict) else {}
        kind = comp.get("type") if comp.get("type") in COMPONENT_TYPES else "unknown"
        nodes.append({"id": cid, "type": kind, "label": cid, "sub": _sublabel(comp)})
    ids = {n["id"] for n in nodes}

    def edge(source: str, target: str, kind: str, path: str) -> None:
        if target in ids and source in ids:
            edges.append(
                {
                    "id": f"{source}->{target}:{kind}",
                    "source": source,
                    "target": target,
                    "kind": kind,
                    "path": path,
                }
            )

    workload = tree.get("workload") if isinstance(tree.get("workload"), dict) else {}
    if isinstance(workload.get("target"), str):
        edge(CLIENTS_ID, workload["target"], "workload", "workload.target")
    for cid, comp in comps.items():
        if not isinstance(comp, dict):
            continue
        for i, t in enumerate(_names(comp.get("targets"))):
            edge(cid, t, "targets", f"components.{cid}.targets[{i}]")
        calls = comp.get("calls")
        for i, call in enumerate(calls if isinstance(calls, list) else []):
            # a plain id, or the mapping form {to: id, probability, breaker}
            t = call.get("to") if isinstance(call, dict) else call
            if isinstance(t, str):
                edge(cid, t, "calls", f"components.{cid}.calls[{i}]")
        if isinstance(comp.get("backing"), str):
            edge(cid, comp["backing"], "backing", f"components.{cid}.backing")
        if isinstance(comp.get("origin"), str):
            edge(cid, comp["origin"], "origin", f"components.{cid}.origin")
        if isinstance(comp.get("consumers"), str):
            edge(cid, comp["consumers"], "consumers", f"components.{cid}.consumers")
    return {"nodes": nodes, "edges": edges}


# --- Mermaid ------------------------------------------------------------------------

_MERMAID_SHAPES = {
    "clients": ("[", "]", "👤 "),
    "load_balancer": ("[", "]", "⚖️ "),
    "service": ("[", "]", "🖥️ "),
    "cache": ("[", "]", "⚡ "),
    "database": ("[(", ")]", "💾 "),
    "queue": ("[/", "/]", "📨 "),
    "cdn": ("{{", "}}", "🌐 "),
    "unknown": ("[", "]", ""),
}
_MERMAID_ARROWS = {
    "workload": "-->|Request|",
    "targets": "-->|Distribute|",
    "calls": "-->",
    "backing": "-.->|Miss|",
    "consumers": "-.->|Consume|",
    "origin": "-.->|Miss|",
}


def _mermaid_id(cid: str) -> str:
    return "Clients" if cid == CLIENTS_ID else "c_" + re.sub(r"[^A-Za-z0-9_]", "_", cid)


def _mermaid_text(text: str) -> str:
    return re.sub(r'["<>{}\[\]()|]', "", text)


def document_mermaid(tree: dict) -> str:
    """A Mermaid ``graph`` of the document, in the style of the seed's diagrams."""
    graph = document_graph(tree)
    lines = ["graph TB"]
    for node in graph["nodes"]:
        left, right, icon = _MERMAID_SHAPES.get(
            node["type"], _MERMAID_SHAPES["unknown"]
        )
        label = icon + _mermaid_text(node["label"])
        if node["sub"]:
            label += "<br/>" + _mermaid_text(node["sub"])
        lines.append(f'    {_mermaid_id(node["id"])}{left}"{label}"{right}')
    for e in graph["edges"]:
        arrow = _MERMAID_ARROWS[e["kind"]]
        lines.append(
            f"    {_mermaid_id(e['source'])} {arrow} {_mermaid_id(e['target'])}"
        )
    return "\n".join(lines) + "\n"


# --- layout ---------------------------------------------------------------------------


def layout_clean(raw: str | None) -> dict:
    """Node positions posted by the designer, checked: {"positions": {id: {x, y}}}.

    Anything malformed is dropped (positions are a convenience, never an error).
    """
    if not raw or len(raw) > 100_000 or simengine.json_depth(raw) > 4:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    positions = data.get("positions") if isinstance(data, dict) else None
    if not isinstance(positions, dict):
        return {}
    clean = {}
    for key, pos in list(positions.items())[:MAX_LAYOUT_NODES]:
        if (
            not isinstance(key, str)
            or len(key) > 64
            or not isinstance(pos, dict)
            or unstorable(key)
        ):
            continue
        x, y = pos.get("x"), pos.get("y")
        if all(
            isinstance(v, (int, float))
            and not isinstance(v, bool)
            and math.isfinite(v)
            and abs(v) < 1e6
            for v in (x, y)
        ):
            clean[key] = {"x": round(float(x), 1), "y": round(float(y), 1)}
    return {"positions": clean} if clean else {}
