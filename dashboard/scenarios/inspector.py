"""The designer's inspector: a form for one component (or the workload, simulation or
network section), built from the document's JSON Schema, applied back to the tree.

Fields come from ``simengine.document_schema()``: labels and units from the names
(``work_ms`` -> "Work (ms)"), defaults and help text from the schema. Only values
the user typed are written: a blank field means the documented default.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import simengine

from . import designer

SECTIONS = {
    "workload": "Workload",
    "simulation": "Simulation",
    "network": "Network",
    "objectives": "Objectives",
}
DISTS = simengine.vocabulary.DISTRIBUTIONS
UNITS = (
    ("_ms", "ms"),
    ("_s", "s"),
    ("_keys", "keys"),
    ("_rps", "requests/s"),
    ("rps", "requests/s"),
    ("cost_per_hour", "$ per hour"),
    ("_ratio", "0 to 1"),
)


@lru_cache(maxsize=1)
def _schema() -> dict:
    return simengine.document_schema()


def _defs() -> dict:
    return _schema()["$defs"]


@lru_cache(maxsize=1)
def model_of_type() -> dict[str, str]:
    """The schema model ($defs name) of each component type, found by its ``type``
    constant: the types themselves come from the document's vocabulary."""
    found = {
        d["properties"]["type"]["const"]: name
        for name, d in _defs().items()
        if "const" in d.get("properties", {}).get("type", {})
    }
    return {kind: found[kind] for kind in simengine.vocabulary.COMPONENT_TYPES}


def _label(name: str) -> tuple[str, str]:
    """("Work", "ms") from "work_ms"."""
    unit = ""
    base = name
    for suffix, u in UNITS:
        if name.endswith(suffix):
            unit = u
            if suffix.startswith("_") and suffix != "_ratio":
                base = name[: -len(suffix)]
            break
    if name == "cost_per_hour":
        base = "cost"
    text = base.replace("_", " ").strip().capitalize() or name
    if name == "rps":
        text = "Rate"
    return text, unit


@dataclass
class Field:
    """One input (or group of inputs) of the inspector form."""

    name: str  # the input name: a dotted path inside the section
    label: str
    unit: str = ""
    kind: str = "text"  # integer | number | text | choice | bool | names | mapping
    # | duration | group | table
    help: str = ""
    default: Any = None
    required: bool = False
    optional_group: bool = False
    enabled: bool = True
    choices: tuple = ()
    value: Any = ""
    error: str = ""
    children: list[Field] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)  # table rows
    # a phases table's second column: "rps" (open workload) or "users" (closed)
    column: str = "rps"

    @property
    def input_id(self) -> str:
        return "insp-" + re.sub(r"[^a-zA-Z0-9_-]", "-", self.name)

    @property
    def default_text(self) -> str:
        if self.default is None or self.default == [] or self.default == "":
            return ""
        if isinstance(self.default, bool):
            return "on" if self.default else "off"
        return designer._num(self.default)


def _resolve(prop: dict) -> tuple[dict, bool]:
    """The schema of a property without ``null``, and whether null was allowed."""
    for key in ("anyOf", "oneOf"):
        options = prop.get(key)
        if options:
            rest = [o for o in options if o.get("type") != "null"]
            if len(rest) == 1 and len(rest) < len(options):
                merged = {**prop, **rest[0]}
                merged.pop(key)
                return merged, True
    return prop, False


def _ref_name(prop: dict) -> str | None:
    ref = prop.get("$ref")
    return ref.rsplit("/", 1)[-1] if ref else None


def _named_choices(prop: dict) -> tuple | None:
    """The names of a field that takes a name or a mapping (an enum beside a model
    in its oneOf/anyOf), or None for any other field."""
    options = prop.get("oneOf") or prop.get("anyOf") or []
    names = next((o["enum"] for o in options if "enum" in o), None)
    if names is None or not any(_ref_name(o) for o in options):
        return None
    return tuple(names)


def _is_duration(prop: dict) -> bool:
    options = prop.get("oneOf") or prop.get("anyOf") or []
    refs = {_ref_name(o) for o in options}
    return "Distribution" in refs


def _fields_of(model: str, values: Any, prefix: str = "") -> list[Field]:
    schema = _defs()[model]
    required = set(schema.get("required", ()))
    values = values if isinstance(values, dict) else {}
    out = []
    for name, raw in schema["properties"].items():
        if name == "type" and "const" in raw:
            continue
        prop, nullable = _resolve(raw)
        label, unit = _label(name)
        f = Field(
            name=prefix + name,
            label=label,
            unit=unit,
            help=raw.get("description") or prop.get("description") or "",
            default=raw.get("default"),
            required=name in required,
        )
        value = values.get(name)
        named = _named_choices(prop)
        if named is not None:
            # a name or a mapping (workload.arrivals: poisson | ... or a renewal
            # process): the names here; a mapping stays the YAML view's to edit
            if isinstance(value, dict):
                continue
            f.kind = "choice"
            f.choices = named
            f.value = "" if value is None else str(value)
        elif _is_duration(prop):
            f.kind = "duration"
            f.children = _duration_fields(prefix + name, value, prop)
        elif _ref_name(prop):
            f.kind = "group"
            f.optional_group = nullable or name not in required
            f.enabled = name in values and value is not None
            f.children = _fields_of(_ref_name(prop), value, prefix + name + ".")
        elif prop.get("type") == "array":
            items = prop.get("items", {})
            if _ref_name(items) == "Phase":
                f.kind = "table"
                # a closed workload's phases change its users, an open one's rate
                f.column = "users" if values.get("users") is not None else "rps"
                f.rows = [
                    {
                        "at_s": designer._num(r.get("at_s", "")),
                        "value": designer._num(r.get(f.column, "")),
                    }
                    for r in (value if isinstance(value, list) else [])
                    if isinstance(r, dict)
                ]
            elif name == "calls" and any(
                _ref_name(o) == "Call" for o in items.get("oneOf", ())
            ):
                # a service's calls: a row each (the id, a probability, a breaker)
                f.kind = "calls"
                f.rows = [
                    _call_row(c) for c in (value if isinstance(value, list) else [])
                ]
            elif items.get("type") == "string":
                f.kind = "names"
                f.value = (
                    ", ".join(str(v) for v in value) if isinstance(value, list) else ""
                )
            else:
                continue  # faults and the like: the YAML view edits them
        elif prop.get("type") == "object":
            f.kind = "mapping"
            if isinstance(value, dict):
                f.value = ", ".join(
                    f"{k}: {designer._num(v)}" for k, v in value.items()
                )
        elif "enum" in prop:
            f.kind = "choice"
            f.choices = tuple(prop["enum"])
            f.value = "" if value is None else str(value)
        elif prop.get("type") == "boolean":
            f.kind = "bool"
            f.value = bool(value) if value is not None else bool(f.default)
        elif prop.get("type") in ("integer", "number"):
            f.kind = prop["type"]
            f.value = "" if value is None else designer._num(value)
        else:
            f.kind = "text"
            f.value = "" if value is None else str(value)
        out.append(f)
    return out


def _duration_fields(name: str, value: Any, prop: dict) -> list[Field]:
    options = prop.get("oneOf") or prop.get("anyOf") or []
    rw = "ReadWriteWork" in {_ref_name(o) for o in options}
    if rw and isinstance(value, dict) and ("read" in value or "write" in value):
        return [
            Field(
                name=f"{name}.{part}",
                label=part.capitalize(),
                unit="ms",
                kind="duration",
                children=_duration_fields(
                    f"{name}.{part}", value.get(part), {"oneOf": []}
                ),
            )
            for part in ("read", "write")
        ]
    extra: dict[str, Any] = {}
    if isinstance(value, dict):
        dist, mean, cv = (
            value.get("dist", "exponential"),
            value.get("mean"),
            value.get("cv"),
        )
        extra = value
    elif value is None:
        dist, mean, cv = "", None, None
    else:
        dist, mean, cv = "constant", value, None
    samples = extra.get("samples")
    return [
        Field(
            name=f"{name}.dist",
            label="Distribution",
            kind="choice",
            choices=DISTS,
            value=dist,
        ),
        Field(
            name=f"{name}.mean",
            label="Mean",
            kind="number",
            value="" if mean is None else designer._num(mean),
        ),
        Field(
            name=f"{name}.cv",
            label="CV",
            kind="number",
            help="coefficient of variation (lognormal; hyperexponential: > 1)",
            value="" if cv is None else designer._num(cv),
        ),
        Field(
            name=f"{name}.k",
            label="Phases k",
            kind="integer",
            help="erlang only",
            value="" if extra.get("k") is None else designer._num(extra["k"]),
        ),
        Field(
            name=f"{name}.alpha",
            label="Tail alpha",
            kind="number",
            help="pareto only (> 1; <= 2 has infinite variance)",
            value="" if extra.get("alpha") is None else designer._num(extra["alpha"]),
        ),
        Field(
            name=f"{name}.samples",
            label="Samples",
            unit="ms",
            kind="samples",
            help="empirical only: durations, comma-separated, or a CSV file "
            "(the first number of each line)",
            value=", ".join(designer._num(x) for x in samples)
            if isinstance(samples, list)
            else "",
        ),
    ]


def _section_model(section: str) -> str:
    return SECTIONS[section]  # the section's pydantic model has the same name


@dataclass
class Form:
    target: str  # a component id, or a section: "workload", "objectives", ...
    title: str
    kind: str  # a component type or "section"
    fields: list[Field]
    base_path: str  # the document path of the target
    errors: list[dict] = field(default_factory=list)  # errors not on a shown field
    message: str = ""

    @property
    def type_label(self) -> str:
        return designer.TYPE_LABELS.get(self.kind, self.kind)


class NotFound(LookupError):
    pass


def build_form(tree: dict, target: str) -> Form:
    """The inspector form for a component id or a section name, from the tree."""
    if target in SECTIONS:
        values = tree.get(target) if isinstance(tree.get(target), dict) else {}
        return Form(
            target=target,
            title=SECTIONS[target],
            kind="section",
            fields=_fields_of(_section_model(target), values),
            base_path=target,
        )
    comps = tree.get("components")
    comp = comps.get(target) if isinstance(comps, dict) else None
    models = model_of_type()
    kind = comp.get("type") if isinstance(comp, dict) else None
    if not isinstance(kind, str) or kind not in models:  # a list is unhashable
        raise NotFound(target)
    return Form(
        target=target,
        title=target,
        kind=comp["type"],
        fields=_fields_of(models[comp["type"]], comp),
        base_path=f"components.{target}",
    )


# --- applying a submitted form --------------------------------------------------------


def _number(text: str, integer: bool) -> Any:
    """A typed number, or the text itself (the engine then names the field)."""
    try:
        if integer:
            return int(text)
        value = float(text)
        return (
            int(value)
            if value.is_integer() and "." not in text and "e" not in text.lower()
            else value
        )
    except ValueError:
        return text


def _read(fields: list[Field], post: Any, current: dict) -> dict:
    """The section's new mapping: ``current`` with the form's fields written in."""
    out = dict(current)
    for f in fields:
        key = f.name.rsplit(".", 1)[-1]
        raw = post.get(f.name, "")
        raw = raw.strip() if isinstance(raw, str) else ""
        if f.kind == "group":
            enabled = not f.optional_group or post.get(f.name + ".__on") == "1"
            if not enabled:
                out.pop(key, None)
                continue
            sub = current.get(key) if isinstance(current.get(key), dict) else {}
            out[key] = _read(f.children, post, sub)
        elif f.kind == "duration":
            value = _read_duration(f, post, current.get(key))
            if value is None:
                out.pop(key, None)
            else:
                out[key] = value
        elif f.kind == "table":
            rows = []
            for i in range(_row_count(post.get(f.name + ".__rows")) + 1):
                at = post.get(f"{f.name}.{i}.at_s", "").strip()
                level = post.get(f"{f.name}.{i}.{f.column}", "").strip()
                if at or level:
                    rows.append(
                        {
                            "at_s": _number(at, False),
                            f.column: _number(level, f.column == "users"),
                        }
                    )
            if rows:
                out[key] = rows
            else:
                out.pop(key, None)
        elif f.kind == "calls":
            if f.name + ".__rows" not in post and f.name not in post:
                continue  # a form without the table (a script's post): as it was
            calls = (
                _read_calls(f, post, current.get(key))
                if f.name + ".__rows" in post
                else [n.strip() for n in raw.split(",") if n.strip()]  # ids as text
            )
            if calls:
                out[key] = calls
            else:
                out.pop(key, None)
        elif f.kind == "bool":
            checked = post.get(f.name) == "on"
            if checked == bool(f.default) and key not in current:
                continue
            out[key] = checked
        elif not raw:
            out.pop(key, None)
        elif f.kind == "names":
            out[key] = [n.strip() for n in raw.split(",") if n.strip()]
        elif f.kind == "mapping":
            mapping = {}
            for part in raw.split(","):
                k, _, v = part.partition(":")
                if k.strip():
                    mapping[k.strip()] = _number(v.strip(), False)
            out[key] = mapping
        elif f.kind in ("integer", "number"):
            out[key] = _number(raw, f.kind == "integer")
        elif f.kind == "choice":
            choice = next((c for c in f.choices if str(c) == raw), raw)
            out[key] = choice
        else:
            out[key] = raw
    return out


def _call_row(entry: Any) -> dict[str, Any]:
    """One row of the calls table: a plain id, or the mapping form's fields."""
    if not isinstance(entry, dict):
        return {"to": str(entry), "probability": "", "breaker": False}
    breaker = entry.get("breaker")
    return {
        "to": str(entry.get("to", "")),
        "probability": designer._num(entry.get("probability", "")),
        "breaker": isinstance(breaker, dict),
        "error_rate": designer._num(breaker.get("error_rate", ""))
        if isinstance(breaker, dict)
        else "",
        "open_s": designer._num(breaker.get("open_s", ""))
        if isinstance(breaker, dict)
        else "",
    }


def _read_calls(f: Field, post: Any, current: Any) -> list[Any]:
    """The calls table back to ``calls``: a plain id where a row sets nothing else
    (so a document without probabilities or breakers keeps its plain list); the
    breaker fields the form does not show (window_s, min_calls) kept from before."""
    old = current if isinstance(current, list) else []
    calls: list[Any] = []
    for i in range(_row_count(post.get(f.name + ".__rows")) + 1):
        to = post.get(f"{f.name}.{i}.to", "").strip()
        if not to:
            continue  # a cleared row is removed
        probability = post.get(f"{f.name}.{i}.probability", "").strip()
        entry: dict[str, Any] = {"to": to}
        if probability:
            entry["probability"] = _number(probability, False)
        if post.get(f"{f.name}.{i}.breaker") == "on":
            was = old[i] if i < len(old) else None  # the row drawn from it
            same = isinstance(was, dict) and str(was.get("to")) == to
            kept = was.get("breaker") if same else None
            breaker = dict(kept) if isinstance(kept, dict) else {}
            for part in ("error_rate", "open_s"):
                raw = post.get(f"{f.name}.{i}.{part}", "").strip()
                if raw:
                    breaker[part] = _number(raw, False)
                else:
                    breaker.pop(part, None)
            entry["breaker"] = breaker
        calls.append(to if list(entry) == ["to"] else entry)
    return calls


def _row_count(raw: Any) -> int:
    """Rows the table had when it was drawn (bounded: a form is not a document)."""
    try:
        rows = int(raw or 0)
    except (TypeError, ValueError):
        return 0
    return max(0, min(rows, simengine.Limits().max_list_items))


def _read_duration(f: Field, post: Any, current: Any) -> Any:
    if f.children and f.children[0].kind == "duration":  # {read, write}
        return {
            part.name.rsplit(".", 1)[-1]: _read_duration(part, post, None)
            for part in f.children
        }
    dist = post.get(f.name + ".dist", "").strip()
    mean = post.get(f.name + ".mean", "").strip()
    cv = post.get(f.name + ".cv", "").strip()
    k = post.get(f.name + ".k", "").strip()
    alpha = post.get(f.name + ".alpha", "").strip()
    samples = post.get(f.name + ".samples", "").strip()
    if dist == "empirical":
        # its mean is its samples': only the samples are written
        return {"dist": dist, "samples": _samples(samples)}
    if not mean:
        return None
    mean_value = _number(mean, False)
    if dist in ("", "constant") and not cv and not isinstance(current, dict):
        return mean_value
    out: dict[str, Any] = {"dist": dist or "exponential", "mean": mean_value}
    if cv and dist != "erlang" and dist != "pareto":
        out["cv"] = _number(cv, False)
    if k and dist == "erlang":
        out["k"] = _number(k, True)
    if alpha and dist == "pareto":
        out["alpha"] = _number(alpha, False)
    return out


def _samples(text: str) -> list[Any]:
    """Comma- or newline-separated durations (a pasted CSV column); a piece that is
    not a number stays text, so the engine names it."""
    pieces = [p.strip() for p in text.replace("\n", ",").split(",")]
    return [_number(p, False) for p in pieces if p]


def apply_form(tree: dict, target: str, post: Any) -> tuple[dict, Form, bool]:
    """Write the submitted form into a copy of the tree.

    Returns (new tree, the form to show, applied). Not applied when the document
    then has an error on this component or section: the form shows it inline.
    """
    form = build_form(tree, target)
    new = copy.deepcopy(tree)
    if target in SECTIONS:
        current = new.get(target) if isinstance(new.get(target), dict) else {}
        new[target] = _read(form.fields, post, current)
        if target == "objectives" and not new[target]:
            del new[target]  # nothing set: no objectives section at all
    else:
        new["components"][target] = _read(form.fields, post, new["components"][target])
    _, doc, errors = designer.parse(designer.tree_to_text(new))
    mine = [
        e
        for e in errors
        if e["path"] == form.base_path
        or e["path"].startswith(form.base_path + ".")
        or e["path"].startswith(form.base_path + "[")
    ]
    if not mine:
        shown = build_form(new, target)
        shown.message = (
            "Applied."
            if doc is not None
            else (
                "Applied. The document still has errors elsewhere (see the YAML tab)."
            )
        )
        return new, shown, True
    # Show what the user typed, with the errors beside their fields.
    shown = build_form(new, target)
    _attach(shown, mine)
    shown.message = "Not applied: fix the marked fields. Nothing was changed."
    return tree, shown, False


def _attach(form: Form, errors: list[dict]) -> None:
    by_name: dict[str, Field] = {}

    def walk(fields: list[Field]) -> None:
        for f in fields:
            by_name[f.name] = f
            walk(f.children)

    walk(form.fields)
    prefix = form.base_path + "."
    for e in errors:
        rel = e["path"][len(prefix) :] if e["path"].startswith(prefix) else ""
        rel = re.sub(r"\[\d+\]", "", rel)
        name = rel
        while name and name not in by_name:
            name = name.rsplit(".", 1)[0] if "." in name else ""
        if name:
            f = by_name[name]
            f.error = (
                f.error + "; " if f.error else ""
            ) + f"{e['path']}: {e['message']}"
        else:
            form.errors.append(e)
