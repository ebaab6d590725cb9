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


# --- one pass, near names ------------------------------------------------------------


def test_a_misspelled_field_and_a_dangling_reference_are_reported_in_one_pass() -> None:
    doc = copy.deepcopy(VALID)
    doc["workload"] = {"target": "lbb", "rsp": 100}
    doc["components"]["web"]["calls"] = ["cahce"]
    doc["components"]["web"]["corez"] = 2
    doc["faults"][0]["component"] = "wbe"
    errors = _errors(doc)
    assert ("workload.rsp", "unknown field: did you mean 'rps'?") in errors
    assert ("workload.rps", "is required") in errors
    assert ("components.web.corez", "unknown field: did you mean 'cores'?") in errors
    assert ("workload.target", "no component named 'lbb': did you mean 'lb'?") in errors
    assert (
        "components.web.calls[0]",
        "no component named 'cahce': did you mean 'cache'?",
    ) in errors
    assert (
        "faults[0].component",
        "no component named 'wbe': did you mean 'web'?",
    ) in errors
    assert len(errors) == len(set(errors)) == 6


def test_an_unknown_field_without_a_near_name_is_just_unknown() -> None:
    assert _errors(_with("workload.zzzzzz", 1)) == [
        ("workload.zzzzzz", "unknown field")
    ]


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        ("components.lb.targets", ["wbe"], "components.lb.targets[0]"),
        ("components.cache.backing", "dbb", "components.cache.backing"),
        ("workload.target", "lbb", "workload.target"),
    ],
)
def test_a_dangling_reference_suggests_the_near_component(
    path: str, value: object, where: str
) -> None:
    name = value[0] if isinstance(value, list) else value
    near = {"wbe": "web", "dbb": "db", "lbb": "lb"}[name]
    assert (where, f"no component named {name!r}: did you mean {near!r}?") in _errors(
        _with(path, value)
    )


def test_an_unknown_field_deep_in_a_component_suggests_its_models_fields() -> None:
    doc = _with("components.db.primary", {"cores": 4, "read_mss": 2})
    assert _errors(doc) == [
        (
            "components.db.primary.read_mss",
            "unknown field: did you mean 'read_ms'?",
        )
    ]


def test_a_weight_for_a_misspelled_target_suggests_the_target() -> None:
    doc = copy.deepcopy(VALID)
    doc["components"]["lb"].update(algorithm="weighted_round_robin", weights={"wbe": 2})
    assert _errors(doc) == [
        (
            "components.lb.weights.wbe",
            "'wbe' is not one of the targets: did you mean 'web'?",
        )
    ]


def test_reference_checks_still_run_beside_an_invalid_component() -> None:
    doc = copy.deepcopy(VALID)
    doc["components"]["cache"]["nodes"] = 0  # the cache is invalid ...
    doc["components"]["cache"]["backing"] = "nowhere"  # ... and dangles
    errors = _errors(doc)
    assert ("components.cache.nodes", "must be >= 1 (got 0)") in errors
    assert ("components.cache.backing", "no component named 'nowhere'") in errors


# --- faults that would do nothing ------------------------------------------------------


def _fault_errors(comp: dict, fault: dict, cid: str = "db") -> list[tuple[str, str]]:
    doc = copy.deepcopy(VALID)
    doc["components"][cid] = comp
    doc["faults"] = [{"at_s": 2, "component": cid, **fault}]
    try:
        parse_document(doc)
    except DocumentError as exc:
        return [(e.path, e.message) for e in exc.errors]
    return []


def test_a_shard_fault_on_an_unsharded_database_is_refused() -> None:
    db = {"type": "database"}
    assert _fault_errors(db, {"node": "shard-0"}) == [
        ("faults[0].node", "'db' has no shards: use primary (got 'shard-0')")
    ]
    replicated = {"type": "database", "replicas": {"count": 2}}
    assert _fault_errors(replicated, {"node": "shard-0"}) == [
        (
            "faults[0].node",
            "'db' has no shards: use primary or replica-0..1 (got 'shard-0')",
        )
    ]


def test_shard_and_replica_faults_must_name_a_node_the_database_has() -> None:
    sharded = {"type": "database", "shards": {"count": 4}}
    assert _fault_errors(sharded, {"node": "shard-3"}) == []
    assert (
        _fault_errors({"type": "database", "shards": {"count": 1}}, {"node": "shard-0"})
        == []
    )
    assert _fault_errors(sharded, {"node": "shard-4"}) == [
        ("faults[0].node", "'db' has shard-0..3 (got 'shard-4')")
    ]
    assert _fault_errors(sharded, {"node": "replica-0"}) == [
        (
            "faults[0].node",
            "'db' has no replicas: use primary or shard-0..3 (got 'replica-0')",
        )
    ]
    assert _fault_errors(sharded, {"node": "leader"}) == [
        ("faults[0].node", "must be primary or shard-0..3 of 'db' (got 'leader')")
    ]


def test_a_cache_fault_names_a_node_index_and_not_an_instance() -> None:
    cache = {"type": "cache", "backing": "db", "nodes": 2}
    assert _fault_errors(cache, {"node": 1}, cid="cache") == []
    assert _fault_errors(cache, {"node": "1"}, cid="cache") == [
        ("faults[0].node", "must be a node index 0..1 (got '1')")
    ]
    assert _fault_errors(cache, {"instance": 0}, cid="cache") == [
        ("faults[0].instance", "not used for a cache; use node")
    ]


def test_a_fault_starting_after_the_run_ends_is_refused() -> None:
    doc = _with("faults", [{"at_s": 11, "component": "web"}])  # run ends at 1 + 10 s
    assert _errors(doc) == [
        (
            "faults[0].at_s",
            "must be before the run ends at warmup_s + duration_s = 11 s (got 11)",
        )
    ]


# --- durations, vocabulary --------------------------------------------------------------


def test_every_duration_is_a_distribution_once_parsed() -> None:
    from simengine.document import Distribution, ReadWriteWork, as_distribution

    doc = copy.deepcopy(VALID)
    doc["components"]["web"]["work_ms"] = 5
    doc["components"]["svc"] = {
        "type": "service",
        "work_ms": {"read": 1, "write": {"mean": 3}},
    }
    parsed = parse_document(doc)
    web, db, cache = (parsed.components[c] for c in ("web", "db", "cache"))
    constant = Distribution(dist="constant", mean=5.0)
    assert web.work_ms == constant
    assert db.primary.read_ms == Distribution(dist="constant", mean=2.0)
    assert db.primary.write_ms == Distribution(dist="exponential", mean=8.0)
    assert cache.hit_ms == Distribution(dist="constant", mean=0.3)  # the default
    work = parsed.components["svc"].work_ms
    assert isinstance(work, ReadWriteWork)
    assert work.read == Distribution(dist="constant", mean=1.0)
    assert work.write == Distribution(dist="exponential", mean=3.0)
    assert as_distribution(web.work_ms) is web.work_ms
    assert as_distribution(5) == constant
    # the parsed document still round-trips, and the schema still takes a number
    again = parse_document(parsed.model_dump(mode="json"))
    assert again == parsed
    hit = simengine.document_schema()["$defs"]["Cache"]["properties"]["hit_ms"]
    assert {"type": "number", "minimum": 0} in hit["oneOf"] and hit["default"] == 0.3


def test_the_models_the_schema_and_the_runtime_read_one_vocabulary() -> None:
    from simengine import vocabulary
    from simengine.balancing import STRATEGIES
    from simengine.datatier import keycache, sharding

    defs = simengine.document_schema()["$defs"]
    assert tuple(defs["LoadBalancer"]["properties"]["algorithm"]["enum"]) == (
        vocabulary.LB_ALGORITHMS
    )
    assert tuple(defs["Distribution"]["properties"]["dist"]["enum"]) == (
        vocabulary.DISTRIBUTIONS
    )
    assert tuple(defs["Cache"]["properties"]["strategy"]["enum"]) == (
        vocabulary.CACHE_STRATEGIES
    )
    assert tuple(defs["Shards"]["properties"]["strategy"]["enum"]) == (
        vocabulary.SHARD_STRATEGIES
    )
    types = {
        d["properties"]["type"].get("const")
        for d in defs.values()
        if "type" in d.get("properties", {})
    }
    assert set(vocabulary.COMPONENT_TYPES) <= types
    assert set(STRATEGIES) == set(vocabulary.LB_ALGORITHMS)
    assert keycache.POLICIES == vocabulary.EVICTIONS
    assert sharding.STRATEGIES == vocabulary.SHARD_STRATEGIES
    assert simengine.VOCABULARY["lb_algorithms"] == vocabulary.LB_ALGORITHMS


# --- validate --json ---------------------------------------------------------------------


def test_validate_json_prints_the_verdict_and_every_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from simengine.cli import main

    assert main(["validate", "--json", str(EXAMPLES / "mm4.yaml")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"valid": True, "format": 1, "components": 1, "replications": 1}
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "scaleboard: 1\nworkload: {target: wbe, rsp: 5}\n"
        "components: {web: {type: service}}\n"
    )
    assert main(["validate", "--json", str(bad)]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {
        "valid": False,
        "errors": [
            {"path": "workload.rps", "message": "is required"},
            {"path": "workload.rsp", "message": "unknown field: did you mean 'rps'?"},
            {
                "path": "workload.target",
                "message": "no component named 'wbe': did you mean 'web'?",
            },
        ],
    }
    assert captured.err == ""
    assert main(["validate", "--json", str(tmp_path / "missing.yaml")]) == 2
    assert json.loads(capsys.readouterr().out)["valid"] is False


def test_a_misspelled_choice_or_type_suggests_the_vocabulary_word() -> None:
    doc = copy.deepcopy(VALID)
    doc["components"]["lb"]["algorithm"] = "least_conections"
    doc["components"]["db"]["type"] = "databse"
    errors = dict(_errors(doc))
    assert errors["components.lb.algorithm"].endswith(
        "(got 'least_conections'): did you mean 'least_connections'?"
    )
    assert errors["components.db.type"].endswith(
        "(got 'databse'): did you mean 'database'?"
    )
