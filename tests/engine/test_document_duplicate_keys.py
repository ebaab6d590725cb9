"""A key given twice in one mapping is refused with its path, YAML and JSON alike
(never silently last-wins, which would run a different system than the one read)."""

from __future__ import annotations

import pytest

import simengine
from simengine import DocumentError, parse_document

YAML_DOC = """\
scaleboard: 1
name: twice
simulation: {duration_s: 10, warmup_s: 1, seed: 1, snapshot_s: 1}
workload: {target: web, rps: 10}
components:
  web:
    type: service
    cores: 2
    work_ms: {dist: exponential, mean: 5}
    cores: 8
"""


def _only_error(source) -> simengine.FieldError:
    with pytest.raises(DocumentError) as caught:
        parse_document(source)
    (error,) = caught.value.errors
    return error


def test_a_yaml_key_given_twice_is_refused_with_its_path_and_lines() -> None:
    error = _only_error(YAML_DOC)
    assert error.path == "components.web.cores"
    assert "duplicate key" in error.message
    assert "line 10" in error.message and "line 8" in error.message


def test_the_first_duplicate_in_document_order_is_the_one_named() -> None:
    error = _only_error(YAML_DOC.replace("name: twice", "name: twice\nname: again"))
    assert error.path == "name"


def test_a_duplicate_key_in_a_flow_mapping_inside_a_list_names_the_item() -> None:
    text = YAML_DOC.replace("    cores: 8\n", "").replace(
        "workload: {target: web, rps: 10}",
        "workload: {target: web, rps: 10, phases: [{at_s: 0, rps: 1, rps: 2}]}",
    )
    assert _only_error(text).path == "workload.phases[0].rps"


def test_a_json_key_given_twice_is_refused_with_its_path() -> None:
    text = (
        '{"scaleboard": 1, "name": "j", "components": '
        '{"web": {"type": "service", "cores": 2, "cores": 4}}}'
    )
    error = _only_error(text)
    assert error.path == "components.web.cores"
    assert "duplicate key" in error.message


def test_load_document_tree_refuses_duplicates_too() -> None:
    with pytest.raises(DocumentError) as caught:
        simengine.load_document_tree(YAML_DOC)
    assert caught.value.errors[0].path == "components.web.cores"


def test_yaml_merge_keys_still_override_as_yaml_says() -> None:
    tree = simengine.load_document_tree(
        "base: &b {cores: 2, instances: 1}\nweb: {<<: *b, cores: 4}\n"
    )
    assert tree["web"] == {"cores": 4, "instances": 1}


def test_the_same_key_in_different_mappings_is_fine() -> None:
    tree = simengine.load_document_tree("a: {x: 1}\nb: {x: 2}\nc: [{x: 3}, {x: 4}]\n")
    assert tree["b"] == {"x": 2}


@pytest.mark.parametrize(
    ("text", "path", "what"),
    [
        ('name: "a\\0b"\n', "name", "NUL"),
        ('{"name": "a\\u0000b"}', "name", "NUL"),
        (
            '{"components": {"web": {"type": "x\\ud800"}}}',
            "components.web.type",
            "surrogate",
        ),
        ('{"components": {"w\\u0000": {}}}', "components", "NUL"),
    ],
)
def test_text_with_nul_or_a_lone_surrogate_is_an_error_at_its_path(
    text: str, path: str, what: str
) -> None:
    with pytest.raises(DocumentError) as caught:
        simengine.load_document_tree(text)
    (error,) = caught.value.errors
    assert error.path == path
    assert what in error.message
