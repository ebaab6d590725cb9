"""pydantic's validation errors in the document's words, with the near name.

``convert_errors`` turns each error into a ``FieldError`` on the field's dotted path;
an unknown field suggests the closest allowed field of its model
(``workload.rsp: unknown field: did you mean 'rps'?``), an unknown choice the
closest one of the vocabulary.
"""

from __future__ import annotations

import json
import re
import types
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from ..errors import FieldError
from .components import MODEL_OF_TYPE, Call
from .fields import Distribution, ReadWriteWork
from .models import ArrivalGaps
from .vocabulary import COMPONENT_TYPES


def did_you_mean(name: Any, choices: Iterable[str]) -> str:
    """``": did you mean 'web'?"`` when one of ``choices`` is close to ``name``."""
    if not isinstance(name, str):
        return ""
    import difflib  # on the first bad name only: a valid document never needs it

    close = difflib.get_close_matches(name, list(choices), n=1)
    return f": did you mean {close[0]!r}?" if close else ""


_QUOTED = re.compile(r"'([^']*)'")  # the choices in a literal error's "expected"

# The model a union tag in an error's location stands for.
_TAGGED: dict[str, type[BaseModel]] = {
    **{"~" + kind: model for kind, model in MODEL_OF_TYPE.items()},
    "~distribution": Distribution,
    "~read_write": ReadWriteWork,
    "~renewal": ArrivalGaps,
    "~call": Call,
}


def _unwrap(annotation: Any) -> Any:
    """``X`` from ``Annotated[X, ...]`` and from ``X | None``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            rest = [a for a in get_args(annotation) if a is not type(None)]
            if len(rest) != 1:
                return annotation
            annotation = rest[0]
        else:
            return annotation


def _fields_at(loc: tuple[Any, ...]) -> tuple[str, ...]:
    """The field names allowed where ``loc`` ends (the model holding its last part)."""
    from .models import Document

    annotation: Any = Document
    for part in loc[:-1]:
        if isinstance(part, str) and part.startswith("~"):
            annotation = _TAGGED.get(part)
            continue
        annotation = _unwrap(annotation)
        origin = get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            info = annotation.model_fields.get(str(part))
            annotation = info.annotation if info else None
        elif origin is dict:
            annotation = get_args(annotation)[1]
        elif origin is tuple:
            annotation = get_args(annotation)[0]
        else:
            return ()
    model = _unwrap(annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return tuple(model.model_fields)
    return ()


def format_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.startswith("~"):
            continue  # a union tag, not a field
        elif part == "[key]":
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "(document)"


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


# pydantic's error kinds in the document's words; {got} shows the offending value and
# the other fields come from the error's context.
_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "unknown field",
    "greater_than_equal": "must be >= {ge}{got}",
    "greater_than": "must be > {gt}{got}",
    "less_than_equal": "must be <= {le}{got}",
    "less_than": "must be < {lt}{got}",
    "finite_number": "must be a finite number{got}",
    "float_type": "must be a number{got}",
    "float_parsing": "must be a number{got}",
    "int_type": "must be an integer{got}",
    "int_parsing": "must be an integer{got}",
    "int_from_float": "must be an integer{got}",
    "bool_type": "must be true or false{got}",
    "bool_parsing": "must be true or false{got}",
    "string_type": "must be a string{got}",
    "dict_type": "must be a mapping{got}",
    "model_type": "must be a mapping{got}",
    "model_attributes_type": "must be a mapping{got}",
    "list_type": "must be a list{got}",
    "tuple_type": "must be a list{got}",
    "literal_error": "must be one of: {expected}{got}",
    "too_short": "must have at least {min_length} entries",
    "too_long": "must have at most {max_length} entries",
    "string_too_long": "must be at most {max_length} characters",
    "string_too_short": "must not be empty",
}


def convert_errors(exc: ValidationError) -> list[FieldError]:
    """Every error of ``exc`` once, on its document path, in the document's words."""
    errors: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors(include_url=False):
        kind = err["type"]
        ctx = err.get("ctx") or {}
        value = err.get("input")
        got = f" (got {_show(value)})" if kind != "missing" else ""
        loc = tuple(err["loc"])
        if kind == "distribution_field":
            loc, msg = (*loc, ctx["field"]), str(ctx["message"])
        elif kind == "component_type":
            msg = "type must be one of: " + ", ".join(COMPONENT_TYPES)
            if isinstance(value, Mapping) and "type" in value:
                msg += f" (got {_show(value['type'])})"
                msg += did_you_mean(value["type"], COMPONENT_TYPES)
            loc = (*loc, "type")
        elif kind in _MESSAGES:
            bounds = {
                k: _num(v) for k, v in ctx.items() if k in ("ge", "gt", "le", "lt")
            }
            msg = _MESSAGES[kind].format(got=got, **{**ctx, **bounds})
            if kind == "extra_forbidden" and loc:
                msg += did_you_mean(loc[-1], _fields_at(loc))
            elif kind == "literal_error":
                msg += did_you_mean(value, _QUOTED.findall(str(ctx.get("expected"))))
        else:
            msg = err["msg"][0].lower() + err["msg"][1:]
        path = format_path(loc)
        if (path, msg) not in seen:
            seen.add((path, msg))
            errors.append(FieldError(path, msg))
    return errors
