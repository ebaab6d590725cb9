"""Cross-field rules of the workload: bursts, phases, regions, closed users."""

from __future__ import annotations

from ...errors import FieldError
from ..models import Bursty, Workload


def workload_errors(wl: Workload) -> list[FieldError]:
    """The workload's cross-field errors (references are checked elsewhere)."""
    errors: list[FieldError] = []
    if wl.users is not None:
        return errors + closed_workload_errors(wl)
    for i, phase in enumerate(wl.phases):
        if phase.users is not None:
            errors.append(
                FieldError(
                    f"workload.phases[{i}].users",
                    "only a closed workload (workload.users) takes users; "
                    "an open workload's phase gives rps",
                )
            )
        elif phase.rps is None:
            errors.append(FieldError(f"workload.phases[{i}].rps", "is required"))
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
    return errors + _phase_order_and_region_errors(wl)


def _phase_order_and_region_errors(wl: Workload) -> list[FieldError]:
    errors: list[FieldError] = []
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


def closed_workload_errors(wl: Workload) -> list[FieldError]:
    """A closed workload (``users``): no rate, no open-only arrival settings, and
    phases that give users."""
    errors: list[FieldError] = []
    if wl.rps is not None:
        errors.append(
            FieldError(
                "workload.users",
                "give either rps (an open workload) or users (a closed one), not both",
            )
        )
    # (the defaults pass: a parsed document's model_dump gives them back)
    for name, given in (
        ("arrivals", wl.arrivals != "poisson"),
        ("bursty", wl.bursty is not None),
    ):
        if given:
            errors.append(
                FieldError(
                    f"workload.{name}",
                    "only for an open workload (rps): closed users send their "
                    "next request when they have thought (workload.users.think_ms)",
                )
            )
    if wl.retry is not None:
        errors.append(
            FieldError(
                "workload.retry",
                "not available with a closed workload (users) yet: a closed user "
                "sends its next request after thinking; use rps to model re-sends",
            )
        )
    for i, phase in enumerate(wl.phases):
        if phase.rps is not None:
            errors.append(
                FieldError(
                    f"workload.phases[{i}].rps",
                    "a closed workload's phase gives users, not rps",
                )
            )
        elif phase.users is None:
            errors.append(
                FieldError(
                    f"workload.phases[{i}].users",
                    "is required (a closed workload's phase gives users)",
                )
            )
    return errors + _phase_order_and_region_errors(wl)
