"""Scaleboard's simulation engine: topology documents in, reports out.

Pure Python on SimPy, numpy and pydantic; it never imports Django or the web side.
See docs/engine.md (architecture) and docs/topology.md (the document format).
``simengine.vocabulary`` holds the document's vocabularies (component types,
algorithms, distributions, ...), each defined once; ``VOCABULARY`` maps their names
to them.
"""

from __future__ import annotations

import importlib
import os
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
    json_depth,
    load_document_tree,
    parse_document,
    vocabulary,
)
from .document.vocabulary import VOCABULARY  # noqa: E402
from .errors import BudgetExceeded, Cancelled, DocumentError, FieldError  # noqa: E402
from .limits import Limits  # noqa: E402
from .runner import (  # noqa: E402
    ENGINE_VERSION,
    Stream,
    combine_reports,
    partial_combined,
    run_replication,
    simulate,
    stream,
)
from .snapshot import (  # noqa: E402
    EVENT_KINDS,
    SNAPSHOT_KEYS,
    SNAPSHOT_VERSION,
    UTILIZATION_NOTES,
    Snapshot,
    Window,
)

__version__ = ENGINE_VERSION


__all__ = [
    "ENGINE_VERSION",
    "EVENT_KINDS",
    "FORMAT_VERSION",
    "SNAPSHOT_KEYS",
    "SNAPSHOT_VERSION",
    "UTILIZATION_NOTES",
    "VOCABULARY",
    "BudgetExceeded",
    "Cancelled",
    "CapacitySearch",
    "Document",
    "DocumentError",
    "Feed",
    "FieldError",
    "Injection",
    "Limits",
    "Snapshot",
    "Stream",
    "Window",
    "combine_reports",
    "document_schema",
    "estimate",
    "format_estimate",
    "format_value",
    "injected_events",
    "injection_parse",
    "json_depth",
    "load_document_tree",
    "parse_document",
    "partial_combined",
    "path_parts",
    "phase_warning",
    "point_document",
    "replay_feed",
    "run_replication",
    "simulate",
    "stream",
    "sweep_values",
    "vocabulary",
]

#: Exported on first use (PEP 562), name -> module: a run needs neither the instant
#: estimate (``simengine.analytic``) nor the objectives' value formatting, and
#: importing the estimate would add ~25 ms to every short command's start-up.
_LAZY = {
    "estimate": "analytic",
    "format_estimate": "analytic",
    "format_value": "objectives",
    # sweeps and capacity (simengine.sweep): the dashboard drives the steps
    "CapacitySearch": "sweep",
    "point_document": "sweep",
    "sweep_values": "sweep",
    "path_parts": "sweep",
    "phase_warning": "sweep",
    # live what-if: building its pydantic model costs a short command ~7 ms
    "Feed": "whatif",
    "Injection": "whatif",
    "injected_events": "whatif",
    "injection_parse": "whatif",
    "replay_feed": "whatif",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
