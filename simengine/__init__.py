"""Scaleboard's simulation engine: topology documents in, reports out.

Pure Python on SimPy, numpy and pydantic; it never imports Django or the web side.
See docs/engine.md (architecture) and docs/topology.md (the document format).
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from typing import Any

# The engine draws its variates with numpy but never calls BLAS. OpenBLAS starts a
# thread per core when numpy is first imported, which costs a short command a tenth
# of a second of CPU for nothing: ask for one unless the caller chose otherwise (no
# effect when numpy is already imported).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from .document import (  # noqa: E402
    FORMAT_VERSION,
    Document,
    document_schema,
    load_document_tree,
    parse_document,
)
from .errors import BudgetExceeded, Cancelled, DocumentError, FieldError  # noqa: E402
from .limits import Limits  # noqa: E402
from .runner import (  # noqa: E402
    ENGINE_VERSION,
    Stream,
    combine_reports,
    run_replication,
    simulate,
    stream,
)

__version__ = ENGINE_VERSION

#: Exported on first use (name -> module): a run needs neither the instant estimate
#: nor the objectives' value formatting, and importing the estimate would cost every
#: short command's start-up.
_LAZY = {
    "estimate": "estimate",
    "format_estimate": "estimate",
    "format_value": "objectives",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


class _PackageFace(types.ModuleType):
    """``simengine.estimate`` is the function, and ``simengine/estimate/`` also a
    package: importing that package would bind it as this package's ``estimate``
    (so that ``from simengine import estimate`` gave a module, depending on what
    was imported first). The face keeps its lazy names for what they export; the
    package is still ``from simengine.estimate import ...``."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return  # the import system binding a submodule of the same name
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _PackageFace

__all__ = [
    "ENGINE_VERSION",
    "FORMAT_VERSION",
    "BudgetExceeded",
    "Cancelled",
    "Document",
    "DocumentError",
    "FieldError",
    "Limits",
    "Stream",
    "combine_reports",
    "document_schema",
    "estimate",
    "format_estimate",
    "format_value",
    "load_document_tree",
    "parse_document",
    "run_replication",
    "simulate",
    "stream",
]
