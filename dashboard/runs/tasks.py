"""Celery tasks: take an id, call the worker side. The database owns the run's state.

Each records the Celery worker's node name (`-n w1@%h`; `self.request.hostname`) as
the worker that ran it, so two workers on one machine are told apart.
"""

from __future__ import annotations

import socket

from celery import shared_task

from dashboard.runs import execution


def _node_name(request) -> str:
    """The worker node's name (`w1@host`); the machine's name where there is none
    (a task called in-process)."""
    return getattr(request, "hostname", None) or socket.gethostname()


@shared_task(bind=True, ignore_result=True)
def run_simulation(self, run_id: str) -> str:
    """Simulate one run. Retries after a lost worker are the reaper's job."""
    return execution.run_execute(run_id=run_id, worker=_node_name(self.request))


@shared_task(bind=True, ignore_result=True)
def run_part(self, run_id: str, replication: int) -> str:
    """Simulate one replication of a fanned-out run (`RunPart`). Sent as a group
    with the run's other parts; combining them is the database's job, not a
    chord's (`dashboard.runs.parts`). Retries are the reaper's, part by part."""
    return execution.part_execute(
        run_id=run_id, replication=replication, worker=_node_name(self.request)
    )
