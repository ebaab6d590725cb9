"""Push run events to the browsers watching a run (its channel group).

Live messages are at-most-once (channels-redis drops to a full channel silently); the
stored snapshots are the source of truth and clients resync from them by sequence number.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)


def group_name(run_id) -> str:
    return f"run-{getattr(run_id, 'hex', str(run_id).replace('-', ''))}"


def _send(run_id, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group_name(run_id), message)
    except Exception:  # a broken layer must never fail the simulation
        log.warning("Could not publish to run %s", run_id, exc_info=True)


def publish_snapshots(run_id, items: list[dict]) -> None:
    if items:
        _send(run_id, {"type": "run.snapshots", "items": items})


def publish_status(
    run_id,
    *,
    status: str,
    error: str = "",
    restarted: bool = False,
    last_seq: int | None = None,
) -> None:
    """`last_seq` (on a finished run) lets a browser see that it missed the tail."""
    _send(
        run_id,
        {
            "type": "run.status",
            "status": status,
            "error": error,
            "restarted": restarted,
            "last_seq": last_seq,
        },
    )
