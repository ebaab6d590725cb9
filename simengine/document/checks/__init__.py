"""Cross-field checks of a document, split by area: references and cycles, the
workload, each component, faults, and limits.

``check_document`` runs them all on a parsed ``Document``; ``check_parts`` runs what
it can on a document whose fields did not all validate (the parts that did), so one
pass reports every error.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ...errors import FieldError
from ...limits import Limits
from ..components import Component
from ..models import Document, Fault, Simulation, Workload
from .components import component_errors
from .faults import fault_errors
from .limits import run_limit_errors, workload_limit_errors
from .precision import precision_errors
from .references import find_cycle, reference_errors
from .workload import workload_errors

__all__ = ["check_document", "check_parts", "find_cycle"]


def check_document(doc: Document, limits: Limits) -> list[FieldError]:
    """References, cycles, cross-field rules and limits of a structurally valid doc."""
    return [
        *reference_errors(doc),
        *workload_errors(doc.workload),
        *workload_limit_errors(doc.workload, limits),
        *component_errors(doc.components),
        *fault_errors(enumerate(doc.faults), doc.components, doc.simulation),
        *run_limit_errors(doc, limits),
        *precision_errors(doc),
    ]


@lru_cache(maxsize=1)
def _component() -> TypeAdapter:
    """A validator of one component (built on the first invalid document)."""
    return TypeAdapter(Component)


def _valid(model: Any, value: Any) -> Any:
    """``value`` parsed by ``model``, or None when it does not validate."""
    try:
        if isinstance(model, TypeAdapter):
            return model.validate_python(value)
        return model.model_validate(value)
    except ValidationError:
        return None


def check_parts(data: Mapping[str, Any], limits: Limits) -> list[FieldError]:
    """The checks of ``check_document`` that apply to the valid parts of ``data``.

    References and cycles read the raw tree; the workload, each component and each
    fault are checked when that part validates on its own. The whole-run limits need
    the whole document and wait for it to validate."""
    errors = reference_errors(data)
    workload = _valid(Workload, data.get("workload"))
    if workload is not None:
        errors += workload_errors(workload)
        errors += workload_limit_errors(workload, limits)
    raw_comps = data.get("components")
    comps: dict[str, Any] = {}
    if isinstance(raw_comps, Mapping):
        for cid, raw in raw_comps.items():
            comp = _valid(_component(), raw)
            if comp is not None:
                comps[cid] = comp
    errors += component_errors(comps)
    raw_faults = data.get("faults")
    faults = []
    if isinstance(raw_faults, (list, tuple)):
        for i, raw in enumerate(raw_faults):
            fault = _valid(Fault, raw)
            if fault is not None:
                faults.append((i, fault))
    simulation = _valid(Simulation, data.get("simulation", {}))
    errors += fault_errors(faults, comps, simulation)
    return errors
