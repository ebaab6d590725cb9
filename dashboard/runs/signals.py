"""`run_finished`: a run reached a final state (succeeded, failed, cancelled).

Sent once per run, after the transaction that made it final commits, from every
place a run ends: the worker's execution (`execution.run_execute`), a fanned-out
run's settle or failure (`parts.run_parts_settle`, `parts.run_fail_from_part`), a
cancel (`services.run_cancel`) and the reaper failing a run
(`services.runs_reap_stale`). Each of those writes is conditional on the run being
active, so only the one call that ends a run sends it. Receivers get `run_id`
(a UUID) and must be idempotent: a receiver that raises is logged and the
others still run (`send_robust`). The sweeps app (dashboard/sweeps) advances a
sweep with it.
"""

from __future__ import annotations

import logging
import uuid

from django.db import transaction
from django.dispatch import Signal

log = logging.getLogger(__name__)

#: Sent with ``run_id`` (a UUID) when a run has become final (see the module).
run_finished = Signal()


def _send(run_id: uuid.UUID) -> None:
    from dashboard.runs.models import Run

    for receiver, result in run_finished.send_robust(sender=Run, run_id=run_id):
        if isinstance(result, Exception):
            log.error(
                "A run_finished receiver (%r) failed for run %s",
                receiver,
                run_id,
                exc_info=result,
            )


def run_finished_send(run_id: uuid.UUID | str) -> None:
    """Send `run_finished` for `run_id` once the current transaction commits (at
    once outside one)."""
    run_id = uuid.UUID(str(run_id))
    transaction.on_commit(lambda: _send(run_id), robust=True)
