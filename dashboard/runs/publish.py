"""Push run events to the browsers watching a run (its channel group).

Live messages are at-most-once (channels-redis drops to a full channel silently); the
stored snapshots are the source of truth and clients resync from them by sequence number.
"""

from __future__ import annotations

import hashlib
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)


def group_name(run_id) -> str:
    return f"run-{getattr(run_id, 'hex', str(run_id).replace('-', ''))}"


def session_group_name(session_key: str) -> str:
    """The group of every run socket opened with one login session (by a hash: the
    key itself is a credential and group names show up in Redis)."""
    return "session-" + hashlib.sha256(session_key.encode()).hexdigest()[:40]


def share_group_name(link_id: int) -> str:
    """The group of every run socket opened through one share link."""
    return f"share-{link_id}"


def _send(run_id, message: dict) -> None:
    _group_send(group_name(run_id), message)


def _group_send(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:  # a broken layer must never fail the simulation
        log.warning("Could not publish to %s", group, exc_info=True)


def session_ended(sender, request=None, **kwargs) -> None:
    """`user_logged_out` receiver: the session's open run sockets close (4401)."""
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if key:
        _group_send(session_group_name(key), {"type": "session.ended"})


def share_revoked(link_id: int) -> None:
    """A share link was revoked: the run sockets opened through it close at once."""
    _group_send(share_group_name(link_id), {"type": "share.revoked"})


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


def publish_parts(run_id) -> None:
    """Where each part of a fanned-out run stands (`selectors.run_parts_state`):

        {"type": "run.parts", "planned": N, "parts": [{"replication": r,
         "status": s, "worker": "w1@host", "attempts": k, "progress": 0..1,
         "throughput_rps": x|None, "p99_ms": x|None, "error_rate": x|None}, ...]}

    Sent on every change of a part (claim, finish, failure, retry, cancel) and with
    its progress at most once a heartbeat (a second) per part. Nothing for a run
    without parts. Reading the parts must never fail the simulation either.
    """
    from dashboard.runs.selectors import run_parts_state

    try:
        state = run_parts_state(run_id=run_id)
    except Exception:
        log.warning("Could not read the parts of run %s", run_id, exc_info=True)
        return
    if state is not None:
        _send(run_id, {"type": "run.parts", **state})
