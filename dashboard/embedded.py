"""The in-process Celery worker of the embedded default (`make run`).

One thread consumes the memory transport inside the ASGI server, so a laptop needs no
Redis and no second process. Started from `asgi.py` after Django is set up (starting it
in `AppConfig.ready()` re-enters `populate()`).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading

from celery.app.trace import setup_worker_optimizations
from celery.contrib.testing.worker import start_worker
from celery.utils.nodenames import anon_nodename

from dashboard.celery import app

log = logging.getLogger(__name__)
_lock = threading.Lock()
_worker_cm = None  # keep a reference: a collected context manager stops the worker


def start_embedded_worker() -> None:
    global _worker_cm
    with _lock:
        if _worker_cm is not None:
            return
        # Its node name is what tasks record as their worker (`self.request.hostname`)
        # and what its reaper step beats as: `celery worker` sets it up for the
        # tasks' trace; the testing worker this one is made with does not.
        hostname = anon_nodename()
        setup_worker_optimizations(app, hostname)
        cm = start_worker(
            app,
            hostname=hostname,
            pool="solo",
            concurrency=1,
            perform_ping_check=False,
            loglevel="WARNING",
            shutdown_timeout=5.0,
        )
        cm.__enter__()
        _worker_cm = cm
        atexit.register(_stop_embedded_worker)
        log.warning("Embedded Celery worker started (memory transport, one thread).")


def _stop_embedded_worker() -> None:
    """Stop the worker thread before the interpreter tears down its modules."""
    global _worker_cm
    with _lock:
        cm, _worker_cm = _worker_cm, None
    if cm is not None:
        with contextlib.suppress(Exception):
            cm.__exit__(None, None, None)
