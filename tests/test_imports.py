"""The shape of the imports, walked from the source so it stays true as files move.

- No import circle in `simengine/` or `dashboard/`: the module-level imports (those
  that run when a module is first imported, including inside top-level `if`/`try`
  and class bodies) form no cycle. Imports inside functions run later and are not
  counted; imports under `if TYPE_CHECKING:` never run and are not counted.
- `simengine` imports neither Django nor `dashboard`, anywhere (the subprocess test
  in tests/engine/test_engine_runs.py checks the same at run time).
- `dashboard` imports only `simengine`'s package face: `import simengine` and
  `from simengine import name`, never `simengine.<module>`.

Every `.py` file under the two packages is read with `ast`, whatever exists: new
packages (`simengine/runtime/`, `simengine/document/`) are walked like the rest.
"""

from __future__ import annotations

import ast
import types
from dataclasses import dataclass, field
from pathlib import Path

import simengine

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("simengine", "dashboard")


@dataclass
class Module:
    name: str
    path: Path
    is_package: bool
    tree: ast.Module
    #: (imported module name, line) of imports that run at import time.
    runtime: list[tuple[str, int]] = field(default_factory=list)
    #: Under `if TYPE_CHECKING:`: for annotations only, never run.
    type_checking: list[tuple[str, int]] = field(default_factory=list)
    #: Every import anywhere in the file, functions included: (name, line, names).
    everywhere: list[tuple[str, int, tuple[str, ...]]] = field(default_factory=list)


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _modules() -> dict[str, Module]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            name, is_package = _module_name(path)
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            found[name] = Module(name, path, is_package, tree)
    return found


def _absolute(module: Module, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    parts = module.name.split(".")
    base = parts if module.is_package else parts[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _targets(module: Module, node: ast.stmt, known: dict[str, Module]) -> list[str]:
    """The modules an import statement loads (a `from pkg import sub` loads sub)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    assert isinstance(node, ast.ImportFrom)
    base = _absolute(module, node)
    subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known]
    return subs or [base]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk_module_level(module: Module, body, known, *, type_checking: bool) -> None:
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            into = module.type_checking if type_checking else module.runtime
            into.extend((t, node.lineno) for t in _targets(module, node, known))
        elif isinstance(node, ast.If):
            _walk_module_level(
                module,
                node.body,
                known,
                type_checking=type_checking or _is_type_checking(node.test),
            )
            _walk_module_level(module, node.orelse, known, type_checking=type_checking)
        elif isinstance(node, (ast.Try, ast.With, ast.For, ast.While)):
            for block in ("body", "orelse", "finalbody"):
                _walk_module_level(
                    module, getattr(node, block, []), known, type_checking=type_checking
                )
            for handler in getattr(node, "handlers", []):
                _walk_module_level(
                    module, handler.body, known, type_checking=type_checking
                )
        elif isinstance(node, ast.ClassDef):  # a class body runs at import time
            _walk_module_level(module, node.body, known, type_checking=type_checking)


def _graph() -> dict[str, Module]:
    known = _modules()
    for module in known.values():
        _walk_module_level(module, module.tree.body, known, type_checking=False)
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Import):
                module.everywhere.extend((a.name, node.lineno, ()) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                names = tuple(a.name for a in node.names)
                module.everywhere.append((_absolute(module, node), node.lineno, names))
    return known


GRAPH = _graph()


def _cycles(graph: dict[str, Module]) -> list[list[str]]:
    """Strongly connected components with more than one module, or a self-import
    (Tarjan's algorithm, iterative)."""
    edges = {
        name: sorted({t for t, _ in m.runtime if t in graph})
        for name, m in graph.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in edges[node]:
                        found.append(sorted(component))
    return found


def _describe(component: list[str]) -> str:
    members = set(component)
    lines = [" <-> ".join(component)]
    for name in component:
        module = GRAPH[name]
        for target, line in module.runtime:
            if target in members:
                rel = module.path.relative_to(ROOT)
                lines.append(f"  {rel}:{line} imports {target}")
    return "\n".join(lines)


def test_the_walk_sees_both_packages_and_their_imports():
    assert {"simengine", "simengine.runner", "dashboard.runs.services"} <= set(GRAPH)
    services = {t for t, _ in GRAPH["dashboard.runs.services"].runtime}
    assert {"simengine", "dashboard.runs.tasks", "dashboard.runs.models"} <= services
    runner = {t for t, _ in GRAPH["simengine.runner"].runtime}
    assert "simengine.objectives" in runner  # a relative import, resolved


def test_the_cycle_finder_finds_a_circle_and_names_its_imports():
    def fake(name: str, imports: list[str]) -> Module:
        module = Module(name, ROOT / f"{name}.py", False, ast.Module([], []))
        module.runtime = [(t, 1) for t in imports]
        return module

    graph = {
        "a": fake("a", ["b"]),
        "b": fake("b", ["c"]),
        "c": fake("c", ["a"]),
        "d": fake("d", ["a"]),
        "e": fake("e", ["e"]),
    }
    assert _cycles(graph) == [["a", "b", "c"], ["e"]]


def test_no_import_circle_in_simengine_or_dashboard():
    cycles = _cycles(GRAPH)
    assert not cycles, "module-level import circles:\n" + "\n".join(
        _describe(c) for c in cycles
    )


def test_simengine_imports_neither_django_nor_dashboard_anywhere():
    bad = [
        f"{m.path.relative_to(ROOT)}:{line} imports {target}"
        for m in GRAPH.values()
        if m.name.split(".")[0] == "simengine"
        for target, line, _ in m.everywhere
        if target.split(".")[0] in {"django", "dashboard", "channels", "celery"}
    ]
    assert not bad, "\n".join(bad)


def _simengine_attributes(tree: ast.Module) -> list[tuple[str, int]]:
    """`simengine.X` attribute reads: X must be part of the face, not a module."""
    return [
        (node.attr, node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "simengine"
    ]


def _on_the_face(name: str) -> bool:
    """Exported by ``simengine`` on purpose: in ``__all__`` (a module only so, like
    ``vocabulary``), or one of the names it loads on first use."""
    if name.startswith("_") or getattr(simengine, name, None) is None:
        return False
    value = getattr(simengine, name)
    return name in simengine.__all__ or not isinstance(value, types.ModuleType)


def test_dashboard_imports_only_the_package_face_of_simengine():
    bad = []
    for m in GRAPH.values():
        if m.name.split(".")[0] != "dashboard":
            continue
        rel = m.path.relative_to(ROOT)
        for target, line, names in m.everywhere:
            if target.startswith("simengine."):
                bad.append(f"{rel}:{line} imports {target} (a private module)")
            elif target == "simengine":
                for name in names:
                    if not _on_the_face(name):
                        bad.append(f"{rel}:{line} imports simengine.{name}")
        for name, line in _simengine_attributes(m.tree):
            if not _on_the_face(name):
                bad.append(f"{rel}:{line} reads simengine.{name}, not on the face")
    assert not bad, "\n".join(bad)
