"""``parse_document`` and ``load_document_tree``: the only ways in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from ..errors import DocumentError, FieldError
from ..limits import Limits
from .checks import check_document, check_parts
from .loading import check_precounts, load_tree, only_document_errors
from .messages import convert_errors
from .models import Document


def parse_document(
    source: str | bytes | Mapping[str, Any], *, limits: Limits | None = None
) -> Document:
    """Parse and validate a document (YAML or JSON text, or a parsed mapping).

    Raises ``DocumentError`` (and nothing else) for any document that cannot be run;
    its ``errors`` are every problem found in one pass: field errors, and the
    reference, fault and cross-field errors of the parts that did validate.
    """
    return only_document_errors(_parse, source, limits or Limits())


def load_document_tree(
    source: str | bytes | Mapping[str, Any], *, limits: Limits | None = None
) -> Mapping[str, Any]:
    """Read a document's tree safely, without validating its fields.

    The first half of :func:`parse_document`: size, encoding, nesting depth and node
    count are checked before and while parsing, and the top must be a mapping. For
    callers that need the raw tree even when its fields are wrong (the designer draws
    it). Raises ``DocumentError`` on "(document)" for anything it cannot read.
    """
    return only_document_errors(load_tree, source, limits or Limits())


def _parse(source: Any, limits: Limits) -> Document:
    data = load_tree(source, limits)
    check_precounts(data, limits)
    try:
        doc = Document.model_validate(dict(data))
    except ValidationError as exc:
        errors = convert_errors(exc) + check_parts(data, limits)
        raise DocumentError(_once(errors)) from None
    errors = check_document(doc, limits)
    if errors:
        raise DocumentError(errors)
    if limits != Limits():
        doc._limits = limits
    return doc


def _once(errors: list[FieldError]) -> list[FieldError]:
    """``errors`` without repeats, in order."""
    return list(dict.fromkeys(errors))
