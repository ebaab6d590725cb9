"""The web's limits on a run: the engine's parse limits and the page's snapshot budget.

Starting a run (`services.run_document_parse`, `services.run_create`) parses with
`engine_limits()` and checks `check_snapshot_budget`; the worker (`execution`) parses
the stored text again with the same limits. Both sides import this module, so
neither imports the other.
"""

from __future__ import annotations

import math

from django.conf import settings

import simengine


def engine_limits() -> simengine.Limits:
    """The engine's limits with the web's event budget (RUN_MAX_EVENTS)."""
    return simengine.Limits(max_events=settings.RUN_MAX_EVENTS)


def check_snapshot_budget(doc: simengine.Document) -> None:
    """Every snapshot is stored and drawn: keep a run's page a reasonable size."""
    sim = doc.simulation
    per_replication = math.ceil(sim.warmup_s / sim.snapshot_s) + math.ceil(
        sim.duration_s / sim.snapshot_s
    )
    total = per_replication * sim.planned_replications
    if total > settings.RUN_MAX_SNAPSHOTS:
        raise simengine.DocumentError(
            [
                simengine.FieldError(
                    "simulation.snapshot_s",
                    f"{total} snapshots for the whole run is over the web limit of "
                    f"{settings.RUN_MAX_SNAPSHOTS} (RUN_MAX_SNAPSHOTS): raise snapshot_s "
                    "or lower replications (or precision.max_replications)",
                )
            ]
        )
