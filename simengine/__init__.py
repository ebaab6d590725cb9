"""Scaleboard's simulation engine: topology documents in, reports out.

Pure Python on SimPy, numpy and pydantic; it never imports Django or the web side.
See docs/engine.md (architecture) and docs/topology.md (the document format).
"""

from __future__ import annotations

from .document import (
    FORMAT_VERSION,
    Document,
    document_schema,
    load_document_tree,
    parse_document,
)
from .errors import BudgetExceeded, Cancelled, DocumentError, FieldError
from .limits import Limits
from .runner import ENGINE_VERSION, combine_reports, run_replication, simulate

__version__ = ENGINE_VERSION

__all__ = [
    "ENGINE_VERSION",
    "FORMAT_VERSION",
    "BudgetExceeded",
    "Cancelled",
    "Document",
    "DocumentError",
    "FieldError",
    "Limits",
    "combine_reports",
    "document_schema",
    "load_document_tree",
    "parse_document",
    "run_replication",
    "simulate",
]
