"""Celery tasks: take an id, call the worker side. The database owns the run's state."""

from __future__ import annotations

import socket

from celery import shared_task

from dashboard.runs import execution


@shared_task(ignore_result=True)
def run_simulation(run_id: str) -> str:
    """Simulate one run. Retries after a lost worker are the reaper's job."""
    return execution.run_execute(run_id=run_id, worker=socket.gethostname())
