"""Documents: parsing, field-path errors, limits (reliability rows 7-9)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simengine
from simengine import DocumentError, Limits, parse_document

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

VALID = {
    "scaleboard": 1,
    "name": "valid",
    "simulation": {"duration_s": 10, "warmup_s": 1, "seed": 4, "snapshot_s": 1},
    "workload": {"target": "lb", "rps": 100, "timeout_ms": 1000},
    "network": {"hop_ms": 0.5},
    "components": {
        "lb": {"type": "load_balancer", "targets": ["web"]},
        "web": {
            "type": "service",
            "instances": 2,
            "work_ms": {"dist": "lognormal", "mean": 8, "cv": 1.5},
            "calls": ["cache"],
        },
        "cache": {"type": "cache", "backing": "db"},
        "db": {"type": "database", "primary": {"cores": 4, "read_ms": 2}},
    },
    "faults": [{"at_s": 3, "component": "web", "instance": 0, "for_s": 2}],
}


def _errors(source: object) -> list[tuple[str, str]]:
    with pytest.raises(DocumentError) as info:
        parse_document(source)  # type: ignore[arg-type]
    errors = info.value.errors
    assert str(info.value) == "\n".join(f"{e.path}: {e.message}" for e in errors)
    return [(e.path, e.message) for e in errors]


def _with(path: str, value: object) -> dict:
    doc = copy.deepcopy(VALID)
    node = doc
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[part]
    if value is _DELETE:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value
    return doc


_DELETE = object()


def test_a_valid_document_parses_from_mapping_yaml_json_and_bytes() -> None:
    as_yaml = yaml.safe_dump(VALID)
    as_json = json.dumps(VALID)
    docs = [
        parse_document(VALID),
        parse_document(as_yaml),
        parse_document(as_json),
        parse_document(as_json.encode()),
    ]
    assert all(d == docs[0] for d in docs)
    doc = docs[0]
    assert doc.simulation.duration_s == 10 and doc.simulation.replications == 1
    assert doc.components["web"].work_ms.dist == "lognormal"


def test_documents_are_frozen() -> None:
    doc = parse_document(VALID)
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen error
        doc.simulation.seed = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("path", "value", "error_path", "fragment"),
    [
        (
            "components.web.instances",
            0,
            "components.web.instances",
            "must be >= 1 (got 0)",
        ),
        ("workload.rps", -5, "workload.rps", "must be >= 0"),
        ("workload.rps", float("nan"), "workload.rps", "finite"),
        ("workload.rps", float("inf"), "workload.rps", "finite"),
        ("workload.rps", "100", "workload.rps", "must be a number"),
        ("components.web.cores", True, "components.web.cores", "integer"),
        ("components.web.corez", 4, "components.web.corez", "unknown field"),
        ("simulation.speed", 2, "simulation.speed", "unknown field"),
        ("components.web.calls", ["nope"], "components.web.calls[0]", "no component"),
        (
            "components.cache.backing",
            "nope",
            "components.cache.backing",
            "no component",
        ),
        (
            "components.lb.targets",
            ["db"],
            "components.lb.targets[0]",
            "must be services",
        ),
        ("workload.target", "ghost", "workload.target", "no component"),
        ("components.db.type", "databse", "components.db.type", "type must be one of"),
        ("components.web.work_ms", {"mean": -1}, "components.web.work_ms.mean", ">= 0"),
        (
            "components.web.work_ms",
            {"dist": "weibull", "mean": 1},
            "components.web.work_ms.dist",
            "one of",
        ),
        ("components.lb.algorithm", "fastest", "components.lb.algorithm", "one of"),
        ("workload.read_ratio", 1.5, "workload.read_ratio", "<= 1"),
        ("scaleboard", 2, "scaleboard", "one of"),
        ("scaleboard", _DELETE, "scaleboard", "is required"),
        (
            "faults",
            [{"at_s": 1, "component": "web", "instance": 7}],
            "faults[0].instance",
            "0..1",
        ),
        (
            "faults",
            [{"at_s": 1, "component": "db", "node": "replica-3"}],
            "faults[0].node",
            "replica",
        ),
        ("workload.regions", {"us": 0.5, "eu": 0.4}, "workload.regions", "add up to 1"),
        (
            "workload.phases",
            [{"at_s": 5, "rps": 1}, {"at_s": 2, "rps": 1}],
            "workload.phases[1].at_s",
            "increasing",
        ),
        ("components.Web", {"type": "service"}, "components.Web", "must match"),
    ],
)
def test_bad_values_are_errors_naming_the_field_path(
    path: str, value: object, error_path: str, fragment: str
) -> None:
    errors = _errors(_with(path, value))
    assert any(p == error_path and fragment in m for p, m in errors), errors


def test_calls_that_form_a_cycle_are_an_error() -> None:
    doc = copy.deepcopy(VALID)
    doc["components"]["api"] = {"type": "service", "calls": ["web"]}
    doc["components"]["web"]["calls"] = ["api"]
    errors = _errors(doc)
    assert any("cycle" in m and "web" in m and "api" in m for _, m in errors), errors
    assert errors[0][0].startswith("components.")


def test_a_service_calling_itself_is_a_cycle() -> None:
    errors = _errors(_with("components.web.calls", ["web"]))
    assert errors == [("components.web.calls[0]", "calls form a cycle: web -> web")]


def test_documents_over_the_size_limit_are_refused_before_parsing() -> None:
    big = "# " + "x" * 1_000_001 + "\n" + yaml.safe_dump(VALID)
    errors = _errors(big)
    assert errors[0][0] == "(document)" and "Limits.max_bytes" in errors[0][1]
    assert _errors(big.encode())[0][1] == errors[0][1]


@pytest.mark.parametrize("depth", [40, 1_000, 100_000])
def test_deep_nesting_is_refused_before_parsing(depth: int) -> None:
    for text in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
        assert "Limits.max_depth" in _errors(text)[0][1]
    deep_yaml = "a:\n" + "".join(" " * i + "- \n" for i in range(1, min(depth, 1000)))
    assert "Limits.max_depth" in _errors(deep_yaml)[0][1]
    nested: dict = {}
    node = nested
    for _ in range(min(depth, 5000)):
        node["a"] = {}
        node = node["a"]
    assert "Limits.max_depth" in _errors(nested)[0][1]


def test_yaml_alias_bombs_are_refused() -> None:
    bomb = "a: &a [1,1,1,1,1,1,1,1,1,1]\n"
    for i in range(1, 9):
        bomb += (
            f"{chr(97 + i)}: &{chr(97 + i)} ["
            + ",".join([f"*{chr(96 + i)}"] * 10)
            + "]\n"
        )
    assert "Limits.max_nodes" in _errors(bomb)[0][1]


def test_too_many_components_are_refused_naming_the_limit() -> None:
    doc = copy.deepcopy(VALID)
    for i in range(10_000):
        doc["components"][f"s{i}"] = {"type": "service"}
    errors = _errors(doc)
    assert errors == [
        (
            "components",
            "has 10004 components, over the limit of 200 (Limits.max_components)",
        )
    ]


def test_a_trillion_requests_is_refused_up_front_naming_the_limit() -> None:
    doc = _with("workload.rps", 1e8)
    doc["simulation"]["duration_s"] = 1e4  # 10^12 requests
    errors = _errors(doc)
    assert errors == [
        (
            "simulation.duration_s",
            "the run would make about 1e+12 requests (rps x 10001 s x 1 "
            "replications), over the limit of 2e+08 (Limits.max_requests)",
        )
    ]


def test_a_billion_keys_is_refused_naming_the_limit() -> None:
    errors = _errors(_with("workload.keys", {"count": 1_000_000_000, "zipf_s": 0.9}))
    assert errors == [
        (
            "workload.keys.count",
            "1000000000 keys is over the limit of 100000000 (Limits.max_keys)",
        )
    ]


def test_limits_can_be_tightened() -> None:
    limits = Limits(max_instances=2)
    errors = _errors_with_limits(VALID, limits)
    assert any("Limits.max_instances" in m for _, m in errors)


def _errors_with_limits(source: object, limits: Limits) -> list[tuple[str, str]]:
    with pytest.raises(DocumentError) as info:
        parse_document(source, limits=limits)  # type: ignore[arg-type]
    return [(e.path, e.message) for e in info.value.errors]


@pytest.mark.parametrize(
    "text",
    ["", "   ", "- 1\n- 2", "just text", "{", "a: [1,", "\x00\x01", "1e999", "null"],
)
def test_garbage_is_a_document_error(text: str) -> None:
    errors = _errors(text)
    assert errors and errors[0][0] == "(document)"


def test_invalid_utf8_is_a_document_error() -> None:
    assert "UTF-8" in _errors(b"scaleboard: 1\n\xff\xfe")[0][1]


def test_the_schema_describes_every_component_type() -> None:
    schema = simengine.document_schema()
    text = json.dumps(schema)
    for name in ("load_balancer", "service", "cache", "database", "timeout_ms"):
        assert name in text
    assert schema["type"] == "object"


def test_every_example_validates() -> None:
    paths = sorted(EXAMPLES.glob("*.yaml"))
    assert len(paths) >= 5
    for path in paths:
        parse_document(path.read_text())


# --- fuzzing -------------------------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
_trees = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=10), children, max_size=4),
    ),
    max_leaves=20,
)
_paths = [
    ("workload",),
    ("workload", "rps"),
    ("workload", "target"),
    ("workload", "phases"),
    ("workload", "keys"),
    ("simulation",),
    ("simulation", "duration_s"),
    ("components",),
    ("components", "web"),
    ("components", "web", "work_ms"),
    ("components", "web", "calls"),
    ("components", "lb", "targets"),
    ("components", "lb", "health_check"),
    ("components", "cache", "backing"),
    ("components", "db", "primary"),
    ("faults",),
    ("faults", 0),
    ("faults", 0, "instance"),
    ("network",),
]


def _assert_only_document_errors(source: object) -> None:
    try:
        parse_document(source)  # type: ignore[arg-type]
    except DocumentError as exc:
        assert exc.errors
        for e in exc.errors:
            assert isinstance(e.path, str) and e.path
            assert isinstance(e.message, str) and e.message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_paths), _trees)
def test_fuzzed_fields_only_ever_raise_document_errors(
    path: tuple, value: object
) -> None:
    doc = copy.deepcopy(VALID)
    node: object = doc
    for part in path[:-1]:
        node = node[part]  # type: ignore[index]
    node[path[-1]] = value  # type: ignore[index]
    _assert_only_document_errors(doc)
    try:
        text = json.dumps(doc)
    except ValueError:
        return
    _assert_only_document_errors(text)


@settings(max_examples=200, deadline=None)
@given(_trees)
def test_fuzzed_documents_only_ever_raise_document_errors(value: object) -> None:
    _assert_only_document_errors(value if isinstance(value, dict) else {"x": value})
    _assert_only_document_errors(yaml.safe_dump(value))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200))
def test_fuzzed_text_only_ever_raises_document_errors(data: bytes | str) -> None:
    _assert_only_document_errors(data)


def test_load_document_tree_reads_a_tree_whose_fields_are_wrong():
    text = "scaleboard: 1\nworkload: {target: lb, rps: -5}\ncomponents: {}\n"
    tree = simengine.load_document_tree(text)
    assert tree["workload"]["rps"] == -5
    with pytest.raises(simengine.DocumentError) as exc:
        simengine.parse_document(tree)
    assert any(e.path == "workload.rps" for e in exc.value.errors)


@pytest.mark.parametrize(
    "text",
    ["", "- a\n- list\n", "a: [1, 2", "[" * 100 + "]" * 100, "x: " + "y" * 1_000_001],
)
def test_load_document_tree_refuses_what_it_cannot_read_safely(text):
    with pytest.raises(simengine.DocumentError) as exc:
        simengine.load_document_tree(text)
    assert [e.path for e in exc.value.errors] == ["(document)"]
