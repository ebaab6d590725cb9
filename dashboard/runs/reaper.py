"""A worker bootstep that reaps runs whose worker died, and says the worker is up.

Every Celery worker runs `runs_reap_stale` every RUN_REAP_INTERVAL_S on its own timer, so
a run (or a part of a fanned-out run) whose worker was killed is retried (or failed
after RUN_MAX_ATTEMPTS) by any other live worker, with no beat process to deploy.
Reaping is idempotent and conditional.

On the same timer it upserts its `WorkerBeat` (the worker's node name, `w1@host`, and
now), at start too, and deletes it on a clean stop: a queued run's page says how many
workers are up (`selectors.run_queue_state`: beats within 3 x RUN_REAP_INTERVAL_S).
The embedded worker of `make run` (`dashboard.embedded`) is a Celery worker with the
same steps, so it beats too.
"""

from __future__ import annotations

import logging

from celery import bootsteps

log = logging.getLogger(__name__)


def _guarded(what: str, work) -> None:
    """Run `work` on a fresh connection; nothing may escape: a database that refuses
    connections (restarting, or at max_connections) is logged and tried again at the
    next interval."""
    from django.db import DatabaseError, close_old_connections

    try:
        close_old_connections()
        work()
    except DatabaseError as exc:
        log.warning("%s failed (retried in %ss): %s", what, _interval(), exc)
    except Exception:
        log.exception("%s failed", what)
    finally:
        try:
            close_old_connections()
        except Exception:
            log.debug("Closing the reaper's connection failed", exc_info=True)


def _reap_now() -> None:
    from dashboard.runs.services import runs_reap_stale

    counts = runs_reap_stale()
    if any(counts.values()):
        log.warning("Reaped stale runs: %s", counts)


def _reap() -> None:
    _guarded("Reaping stale runs", _reap_now)


def worker_beat(hostname: str) -> None:
    """This worker is up: its `WorkerBeat` row says so, as of now."""
    from django.utils import timezone

    from dashboard.runs.models import WorkerBeat

    WorkerBeat.objects.update_or_create(
        hostname=hostname[:200], defaults={"seen_at": timezone.now()}
    )


def worker_gone(hostname: str) -> None:
    from dashboard.runs.models import WorkerBeat

    WorkerBeat.objects.filter(hostname=hostname[:200]).delete()


def _interval() -> int:
    from django.conf import settings

    return settings.RUN_REAP_INTERVAL_S


class ReaperStep(bootsteps.StartStopStep):
    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs) -> None:
        super().__init__(worker, **kwargs)
        self.tref = None
        self.hostname = ""

    def start(self, worker) -> None:
        from django.conf import settings

        self.hostname = worker.hostname or ""

        def tick() -> None:
            if self.hostname:
                _guarded("The worker's beat", lambda: worker_beat(self.hostname))
            _reap()

        if self.hostname:
            _guarded("The worker's beat", lambda: worker_beat(self.hostname))
        self.tref = worker.timer.call_repeatedly(
            settings.RUN_REAP_INTERVAL_S, tick, priority=10
        )

    def stop(self, worker) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
        if self.hostname:
            _guarded("Removing the worker's beat", lambda: worker_gone(self.hostname))

    def terminate(self, worker) -> None:
        # A cold shutdown (and the embedded worker's) terminates steps instead of
        # stopping them; a step without an object would do nothing.
        self.stop(worker)
