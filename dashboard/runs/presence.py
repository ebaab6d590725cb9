"""Who is watching a run: one `RunViewer` row per open run socket.

The consumer (dashboard/runs/consumers.py) inserts its row once the socket is
accepted, refreshes `seen_at` when the browser pings (at most every
`RUN_PRESENCE_WRITE_S`), and deletes it on disconnect. A server killed mid-way leaves
its rows behind: rows not refreshed for `RUN_PRESENCE_STALE_S` are ignored, and
deleted by the next viewer who joins that run. `run_viewers` is the one read: a
single grouped query, whatever the number of viewers.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone

from dashboard.runs.models import RunViewer

#: The label of a viewer let in by a share link (no account, or not a member).
SHARE_VISITOR_LABEL = "Visitor via share link"


def _fresh_since():
    return timezone.now() - timedelta(seconds=settings.RUN_PRESENCE_STALE_S)


def run_viewers(*, run_id) -> list[dict]:
    """The run's viewers as `[{"label": "alice", "count": 2}, ...]`: signed-in users
    by the time they started watching, then share-link visitors; stale rows left
    out."""
    rows = (
        RunViewer.objects.filter(run_id=run_id, seen_at__gte=_fresh_since())
        .values("label")
        .annotate(count=Count("id"), since=Min("id"))
        .order_by("since")
    )
    viewers = [{"label": r["label"], "count": r["count"]} for r in rows]
    viewers.sort(key=lambda v: v["label"] == SHARE_VISITOR_LABEL)
    return viewers


def viewer_join(*, run_id, channel_name: str, user, label: str) -> list[dict]:
    """Record an open socket and return who is watching now (itself included)."""
    RunViewer.objects.filter(run_id=run_id, seen_at__lt=_fresh_since()).delete()
    RunViewer.objects.create(
        run_id=run_id,
        channel_name=channel_name[:200],
        user=user,
        label=label[:150],
        seen_at=timezone.now(),
    )
    return run_viewers(run_id=run_id)


def viewer_seen(*, channel_name: str) -> None:
    """The browser behind `channel_name` is still watching."""
    RunViewer.objects.filter(channel_name=channel_name[:200]).update(
        seen_at=timezone.now()
    )


def viewer_leave(*, run_id, channel_name: str) -> list[dict]:
    """Forget a closed socket and return who is still watching."""
    RunViewer.objects.filter(channel_name=channel_name[:200]).delete()
    return run_viewers(run_id=run_id)
