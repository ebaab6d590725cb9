"""Cross-field rules of the workload: bursts, phases, regions."""

from __future__ import annotations

from ...errors import FieldError
from ..models import Bursty, Workload


def workload_errors(wl: Workload) -> list[FieldError]:
    """The workload's cross-field errors (references are checked elsewhere)."""
    errors: list[FieldError] = []
    if wl.arrivals != "bursty" and wl.bursty is not None:
        errors.append(
            FieldError("workload.bursty", "only allowed with arrivals: bursty")
        )
    if wl.arrivals == "bursty":
        b = wl.bursty or Bursty()
        if b.factor * b.on_s > b.on_s + b.off_s + 1e-9:
            errors.append(
                FieldError(
                    "workload.bursty.factor",
                    f"must be <= (on_s + off_s) / on_s = "
                    f"{(b.on_s + b.off_s) / b.on_s:g} so the mean rate stays rps "
                    f"(got {b.factor:g})",
                )
            )
    last = -1.0
    for i, phase in enumerate(wl.phases):
        if phase.at_s <= last:
            errors.append(
                FieldError(
                    f"workload.phases[{i}].at_s",
                    "phases must be in increasing at_s order",
                )
            )
        last = phase.at_s
    if wl.regions is not None:
        total = sum(wl.regions.values())
        if abs(total - 1.0) > 1e-6:
            errors.append(
                FieldError(
                    "workload.regions", f"shares must add up to 1 (got {total:g})"
                )
            )
    return errors
