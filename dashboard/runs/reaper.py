"""A worker bootstep that reaps runs whose worker died.

Every Celery worker runs `runs_reap_stale` every RUN_REAP_INTERVAL_S on its own timer, so
a run whose worker was killed is retried (or failed after RUN_MAX_ATTEMPTS) by any other
live worker, with no beat process to deploy. Reaping is idempotent and conditional.
"""

from __future__ import annotations

import logging

from celery import bootsteps

log = logging.getLogger(__name__)


def _reap() -> None:
    from django.db import DatabaseError, close_old_connections

    from dashboard.runs.services import runs_reap_stale

    # Nothing may escape: a database that refuses connections (restarting, or at
    # max_connections) is logged and tried again at the next interval.
    try:
        close_old_connections()
        counts = runs_reap_stale()
        if any(counts.values()):
            log.warning("Reaped stale runs: %s", counts)
    except DatabaseError as exc:
        log.warning("Reaping stale runs failed (retried in %ss): %s", _interval(), exc)
    except Exception:
        log.exception("Reaping stale runs failed")
    finally:
        try:
            close_old_connections()
        except Exception:
            log.debug("Closing the reaper's connection failed", exc_info=True)


def _interval() -> int:
    from django.conf import settings

    return settings.RUN_REAP_INTERVAL_S


class ReaperStep(bootsteps.StartStopStep):
    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs) -> None:
        super().__init__(worker, **kwargs)
        self.tref = None

    def start(self, worker) -> None:
        from django.conf import settings

        self.tref = worker.timer.call_repeatedly(
            settings.RUN_REAP_INTERVAL_S, _reap, priority=10
        )

    def stop(self, worker) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
