"""Reading a document's tree safely: size, encoding, nesting depth and node count are
bounded before and while any parser runs (YAML aliases expanded), and the top must be
a mapping. A key given twice in one mapping is refused with its path (YAML and JSON
alike), never last-wins. Every failure is a ``DocumentError`` on "(document)" (or on
the section over a count limit, or on the duplicated key)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..errors import DocumentError
from ..limits import Limits


def _yaml() -> tuple[Any, Any]:
    """PyYAML and its safe loader, imported on the first YAML text (JSON input, the
    usual case for programs, never pays for the import). The loader is libyaml's
    when PyYAML was built with it (several times faster), else the pure-Python one;
    both construct only plain types."""
    import yaml

    return yaml, getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def only_document_errors(step: Any, source: Any, limits: Limits) -> Any:
    """Run a parsing step so that nothing but ``DocumentError`` escapes it."""
    try:
        return step(source, limits)
    except DocumentError:
        raise
    except RecursionError:
        raise DocumentError.single(
            "(document)", f"nested too deeply (limit {limits.max_depth} levels)"
        ) from None
    except Exception as exc:  # a safety net: a bad document must never crash a caller
        raise DocumentError.single(
            "(document)", f"could not be read ({type(exc).__name__}: {exc})"
        ) from None


def load_tree(source: Any, limits: Limits) -> Mapping[str, Any]:
    if isinstance(source, Mapping):
        _check_tree(source, limits)
        data = source
    elif isinstance(source, (str, bytes, bytearray)):
        if isinstance(source, str):
            size = len(source.encode("utf-8", "surrogatepass"))
        else:
            size = len(source)
        if size > limits.max_bytes:
            raise DocumentError.single(
                "(document)",
                f"is {size} bytes, over the limit of {limits.max_bytes} bytes "
                "(Limits.max_bytes)",
            )
        if isinstance(source, (bytes, bytearray)):
            try:
                text = bytes(source).decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise DocumentError.single(
                    "(document)", f"is not valid UTF-8 ({exc.reason})"
                ) from None
        else:
            text = source
        data = _load_text(text, limits)
        _check_tree(data, limits)
    else:
        raise DocumentError.single(
            "(document)",
            f"must be YAML or JSON text or a mapping (got {type(source).__name__})",
        )
    if not isinstance(data, Mapping):
        raise DocumentError.single(
            "(document)", f"must be a mapping at the top (got {type_name(data)})"
        )
    return data


def _load_text(text: str, limits: Limits) -> Any:
    stripped = text.lstrip()
    if not stripped:
        raise DocumentError.single("(document)", "is empty")
    if stripped[0] in "{[":
        depth = json_depth(stripped)
        if depth > limits.max_depth:
            raise _depth_error(limits)
        try:
            return json.loads(stripped, object_pairs_hook=_unique_pairs)
        except _DuplicateKey:
            raise _json_duplicate(stripped) from None
        except json.JSONDecodeError as exc:
            if stripped[0] == "[":
                raise DocumentError.single(
                    "(document)", f"is not valid JSON: {exc.msg} (line {exc.lineno})"
                ) from None
            # flow-style YAML also starts with "{": fall through to YAML
        except ValueError as exc:
            raise DocumentError.single(
                "(document)", f"is not valid JSON: {exc}"
            ) from None
    yaml, loader_class = _yaml()
    _check_yaml_events(text, limits)
    loader = loader_class(text)  # a safe loader: plain types only
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_yaml_keys(yaml, node)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise DocumentError.single(
            "(document)", "is not valid YAML or JSON: " + _yaml_msg(exc)
        ) from None
    finally:
        loader.dispose()


def _key_path(parent: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else str(key)


def _duplicate_error(path: str, where: str = "") -> DocumentError:
    return DocumentError.single(
        path, "duplicate key" + (f" ({where})" if where else "") + ": give it once"
    )


def _check_yaml_keys(yaml: Any, root: Any) -> None:
    """Refuse a key given twice in one YAML mapping, naming its path and lines.

    Walks the composed node graph without recursion, in document order, each node
    once (aliases share nodes). Merge keys (``<<``) are YAML's own way to override and are skipped."""
    stack: list[tuple[Any, str]] = [(root, "")]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first_line: dict[tuple[str, str], int] = {}
            children: list[tuple[Any, str]] = []
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                if isinstance(key_node, yaml.ScalarNode):
                    key = (key_node.tag, key_node.value)
                    line = key_node.start_mark.line + 1
                    if key in first_line:
                        raise _duplicate_error(
                            _key_path(path, key_node.value),
                            f"line {line}, first given on line {first_line[key]}",
                        )
                    first_line[key] = line
                    children.append((value_node, _key_path(path, key_node.value)))
                else:
                    children.append((value_node, path))
            stack.extend(reversed(children))  # popped in document order
        elif isinstance(node, yaml.SequenceNode):
            items = [(item, _key_path(path, i)) for i, item in enumerate(node.value)]
            stack.extend(reversed(items))


class _DuplicateKey(ValueError):
    pass


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        raise _DuplicateKey
    return data


class _Pairs(list):
    """A JSON object's (key, value) pairs, in order, duplicates kept."""


def _json_duplicate(text: str) -> DocumentError:
    """The path of the first duplicated key of JSON text known to have one (parsed
    again keeping every pair: only on this error path)."""
    stack: list[tuple[Any, str]] = [(json.loads(text, object_pairs_hook=_Pairs), "")]
    while stack:
        node, path = stack.pop(0)
        if isinstance(node, _Pairs):
            keys: set[str] = set()
            for key, value in node:
                if key in keys:
                    return _duplicate_error(_key_path(path, key))
                keys.add(key)
                stack.append((value, _key_path(path, key)))
        elif isinstance(node, list):
            stack.extend((item, _key_path(path, i)) for i, item in enumerate(node))
    return _duplicate_error("(document)")


def _yaml_msg(exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is not None:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    return str(problem)


def json_depth(text: str) -> int:
    """Deepest [ / { nesting of JSON text, outside strings, without recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        elif ch in "]}":
            depth -= 1
    return deepest


def _check_yaml_events(text: str, limits: Limits) -> None:
    """Walk the YAML event stream (the parser does not recurse) to cap depth and
    node count before the composer (which does recurse) builds the tree."""
    yaml, loader = _yaml()
    depth = 0
    events = 0
    try:
        for event in yaml.parse(text, Loader=loader):
            events += 1
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > limits.max_depth:
                    raise _depth_error(limits)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            if events > 2 * limits.max_nodes + 10:
                raise _nodes_error(limits)
    except yaml.YAMLError as exc:
        raise DocumentError.single(
            "(document)", "is not valid YAML or JSON: " + _yaml_msg(exc)
        ) from None


def _depth_error(limits: Limits) -> DocumentError:
    return DocumentError.single(
        "(document)",
        f"is nested more than {limits.max_depth} levels deep (Limits.max_depth)",
    )


def _nodes_error(limits: Limits) -> DocumentError:
    return DocumentError.single(
        "(document)",
        f"has more than {limits.max_nodes} values (Limits.max_nodes)",
    )


def _check_tree(data: Any, limits: Limits) -> None:
    """Iteratively bound depth and node count of a parsed tree (aliases expanded)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > limits.max_nodes:
            raise _nodes_error(limits)
        if isinstance(node, Mapping):
            if depth > limits.max_depth:
                raise _depth_error(limits)
            for key, value in node.items():
                if not isinstance(key, str):
                    raise DocumentError.single(
                        "(document)",
                        f"keys must be strings (got {type_name(key)} {key!r:.40})",
                    )
                if _unstorable(key):
                    raise _text_error(data, key)
                stack.append((value, depth + 1))
        elif isinstance(node, (list, tuple)):
            if depth > limits.max_depth:
                raise _depth_error(limits)
            stack.extend((value, depth + 1) for value in node)
        elif isinstance(node, str) and _unstorable(node):
            raise _text_error(data, node)


def _unstorable(text: str) -> bool:
    """NUL (U+0000) or a lone surrogate (U+D800..U+DFFF, not Unicode text): a
    document carrying either could not be stored or shown as it was read (PostgreSQL
    refuses NUL in text; UTF-8 has no encoding for a lone surrogate)."""
    if "\x00" in text:
        return True
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _text_error(data: Any, bad: str) -> DocumentError:
    """The error for the first key or string equal to `bad`, at its path (found by
    walking again: only on this error path)."""
    what = "a NUL character (U+0000)" if "\x00" in bad else "a lone surrogate"
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, Mapping):
            for key, value in node.items():
                here = _key_path(path, key)
                if key == bad:
                    return DocumentError.single(
                        path or "(document)", f"a key has {what}"
                    )
                stack.append((value, here))
        elif isinstance(node, (list, tuple)):
            stack.extend((v, _key_path(path, i)) for i, v in enumerate(node))
        elif node == bad:
            return DocumentError.single(path or "(document)", f"has {what}")
    return DocumentError.single("(document)", f"has {what}")


def check_precounts(data: Mapping, limits: Limits) -> None:
    components = data.get("components")
    if isinstance(components, Mapping) and len(components) > limits.max_components:
        raise DocumentError.single(
            "components",
            f"has {len(components)} components, over the limit of "
            f"{limits.max_components} (Limits.max_components)",
        )
    for section, where in (("faults", data), ("phases", data.get("workload"))):
        if isinstance(where, Mapping):
            items = where.get(section)
            if isinstance(items, list) and len(items) > limits.max_list_items:
                path = section if section == "faults" else "workload.phases"
                raise DocumentError.single(
                    path,
                    f"has {len(items)} entries, over the limit of "
                    f"{limits.max_list_items} (Limits.max_list_items)",
                )


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, (list, tuple)):
        return "list"
    return type(value).__name__
