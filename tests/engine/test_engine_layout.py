"""The engine's shape, checked so it stays true: one module per component kind
behind a registry, no switch on component types, modules a reader can hold."""

from __future__ import annotations

import ast
from pathlib import Path

import simengine
from simengine.document import COMPONENT_TYPES
from simengine.runtime import RUNTIMES, Component

SIMENGINE = Path(simengine.__file__).resolve().parent
#: The document's component models and the runtime's component classes.
COMPONENT_CLASSES = {
    "LoadBalancer",
    "Service",
    "Cache",
    "Database",
    "Balancer",
    "ServiceRt",
    "CacheRt",
    "DatabaseRt",
    "ShardedDatabaseRt",
}
MAX_LINES = 620  # "about 600"


def test_every_component_type_has_a_runtime() -> None:
    assert set(RUNTIMES) == set(COMPONENT_TYPES)


def test_every_runtime_implements_the_component_contract() -> None:
    import simengine.runtime as runtime

    kinds = [
        runtime.balancer.Balancer,
        runtime.service.ServiceRt,
        runtime.cache.CacheRt,
        runtime.database.DatabaseRt,
        runtime.sharded.ShardedDatabaseRt,
    ]
    for kind in kinds:
        assert issubclass(kind, Component)
        assert not getattr(kind, "__abstractmethods__", None), kind


def _isinstance_on_component_classes(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("isinstance", "issubclass")
            and len(node.args) == 2
        ):
            names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
            names |= {
                n.attr for n in ast.walk(node.args[1]) if isinstance(n, ast.Attribute)
            }
            if names & COMPONENT_CLASSES:
                found.append(f"{path.relative_to(SIMENGINE)}:{node.lineno}")
    return found


def test_no_isinstance_switch_on_component_types_in_the_engine() -> None:
    found = []
    for path in sorted(SIMENGINE.rglob("*.py")):
        found += _isinstance_on_component_classes(path)
    assert not found, "dispatch through the registry or the type, not isinstance"


def test_no_engine_module_is_over_about_600_lines() -> None:
    long = {
        str(p.relative_to(SIMENGINE)): n
        for p in sorted(SIMENGINE.rglob("*.py"))
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long
