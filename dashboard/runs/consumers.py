"""The live run stream: one WebSocket per browser watching a run.

On connect the owner gets the snapshots stored after `?after=SEQ`, then live batches.
Stored snapshots are the truth (live messages are at-most-once), so a browser that sees
a gap in sequence numbers sends `{"type": "resync", "after": SEQ}` and catches up from
storage. Others are refused before the handshake.

A catch-up comes in pages the browser asks for one at a time (`{"type": "page",
"after": THROUGH}`), each at most `RUN_RESYNC_PAGE_ITEMS` snapshots and about
`RUN_RESYNC_PAGE_BYTES` of JSON, read from the database by sequence number, so no
message nears a frame limit and a 10,000-snapshot run is never read whole. A viewer
more than `RUN_RESYNC_PREVIEW_BEHIND` snapshots behind first gets a downsampled outline
(every stride-th snapshot, `downsampled: true`) so its chart fills at once; the full
pages follow. A page message is

    {"type": "snapshots", "backlog": true, "after": A, "through": T, "more": bool,
     "items": [...], "downsampled": bool, "stride": k}

where every stored snapshot with A < seq <= T has been sent in full (an outline has
T == A). The status message that ends a catch-up carries `"backlog": true`.

Live batches that arrive while a catch-up is under way are sent as they come, between
pages: the browser keeps every snapshot by sequence number, so nothing is lost or
misplaced, and asks for a resync only once its catch-up is done.

The socket belongs to a login session: logging out (any session end Django signals)
closes it with 4401 at once, and a session deleted otherwise is noticed within
`RUN_SESSION_CHECK_S` of live messages.

A visitor of a shared page (dashboard.sharing) has no session that may view the run:
`?share=TOKEN` lets them in when the token is an active link to the run's scenario.
Such a socket joins the link's group, so revoking the link closes it (4410) at once;
an expiry is noticed within `RUN_SESSION_CHECK_S` of live messages.

A status message of a queued run also carries `position` (its place in the queue)
and `workers` (workers up), from `selectors.run_queue_state`. A fanned-out run's
parts (`RunPart`) come as

    {"type": "parts", "planned": N, "parts": [{"replication": r, "status": s,
     "worker": "w1@host", "attempts": k, "progress": 0..1, "throughput_rps": x|None,
     "p99_ms": x|None, "error_rate": x|None}, ...]}

live on every change, and right after the status message that ends a catch-up (so
on connect too) when the run has parts.

Presence (dashboard/runs/presence.py): every accepted socket has a `RunViewer` row,
refreshed when the browser sends `{"type": "ping"}` (at most every
`RUN_PRESENCE_WRITE_S`) and deleted on disconnect. On every join and leave the
consumer that joined or left reads who is watching (one query) and sends the run's
group `{"type": "run.presence", "viewers": [{"label": "alice", "count": 1}, ...]}`;
each socket forwards it as `{"type": "presence", "viewers": [...], "you": LABEL}`
(`you`: the label that socket is counted under), the joiner's own included.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from urllib.parse import parse_qs

from autobahn.exception import Disconnected
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from dashboard.runs import presence, selectors
from dashboard.runs.publish import group_name, session_group_name, share_group_name
from dashboard.sharing.selectors import share_link_is_active, shared_run_or_none

log = logging.getLogger(__name__)

CLOSE_UNAUTHORIZED = 4401
CLOSE_SHARE_ENDED = 4410  # the share link the socket was opened by was revoked
MAX_SEQ = 2**31 - 1  # RunSnapshot.seq is an IntegerField: beyond it the query fails
ENVELOPE_BYTES = 1024  # room for a page message's fields besides its items


def _seq_or_none(raw) -> int | None:
    """A client's `after` as a sequence number, or None when it is not one (a float
    like JSON's Infinity, a string, a bool...). Clamped to what the database holds."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, float):
        if not math.isfinite(raw) or not raw.is_integer():
            return None
        raw = int(raw)
    if not isinstance(raw, int):
        return None
    return max(-1, min(raw, MAX_SEQ))


def _query(scope) -> dict[str, list[str]]:
    return parse_qs(scope.get("query_string", b"").decode("latin-1"))


def _share_token_from_query(scope) -> str | None:
    return _query(scope).get("share", [None])[0]


def _shared_run(token: str | None, run_id):
    """(link id, run) when `token` is an active share link to the run's scenario."""
    if not token:
        return None
    found = shared_run_or_none(token=token, run_id=run_id)
    return None if found is None else (found[0].pk, found[1])


def _share_active(link_id: int) -> bool:
    return share_link_is_active(link_id=link_id)


def _after_from_query(scope) -> int:
    raw = _query(scope).get("after", ["-1"])[0]
    try:
        value = int(raw)
    except ValueError:
        return -1
    return max(-1, min(value, MAX_SEQ))


class RunConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        run_id = self.scope["url_route"]["kwargs"]["run_id"]
        run = await database_sync_to_async(selectors.run_get_for_user_or_none)(
            user=user, run_id=run_id
        )
        self.share_link_id = None
        if run is None:
            shared = await database_sync_to_async(_shared_run)(
                _share_token_from_query(self.scope), run_id
            )
            if shared is not None:
                self.share_link_id, run = shared
        if run is None:
            await self.close()  # before accept: the handshake is refused (403)
            return
        self.run_id = run.pk
        self.group = group_name(run.pk)
        self.session_group = None
        if self.share_link_id is not None:
            self.share_group = share_group_name(self.share_link_id)
            await self.channel_layer.group_add(self.share_group, self.channel_name)
        session = self.scope.get("session")
        if session is not None and session.session_key:
            self.session_group = session_group_name(session.session_key)
            await self.channel_layer.group_add(self.session_group, self.channel_name)
        self.session_checked_at = time.monotonic()
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self._presence_join(user, visitor=self.share_link_id is not None)
        await self._send_backlog(_after_from_query(self.scope), preview=True)

    async def disconnect(self, code) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
        if getattr(self, "presence_label", None) is not None:
            viewers = await database_sync_to_async(presence.viewer_leave)(
                run_id=self.run_id, channel_name=self.channel_name
            )
            await self._presence_announce(viewers)
        if getattr(self, "session_group", None):
            await self.channel_layer.group_discard(
                self.session_group, self.channel_name
            )
        if getattr(self, "share_group", None):
            await self.channel_layer.group_discard(self.share_group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        # A frame that is not JSON text is ignored: raising here would close 1011.
        if text_data is None:
            return
        try:
            content = json.loads(text_data)
        except (ValueError, RecursionError):
            return
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs) -> None:
        if not isinstance(content, dict) or content.get("type") not in {
            "resync",
            "page",
            "ping",
        }:
            return
        if content["type"] == "ping":
            await self._presence_seen()
            return
        after = _seq_or_none(content.get("after", -1))
        if after is None:
            return
        await self._send_backlog(after, preview=content["type"] == "resync")

    async def _send_backlog(self, after: int, *, preview: bool) -> None:
        text, done = await database_sync_to_async(_backlog_message)(
            self.run_id, after, preview=preview
        )
        with contextlib.suppress(Disconnected):
            if text is not None:
                await self.send(text_data=text)
            if done:
                state = await database_sync_to_async(_run_state)(self.run_id)
                await self.send_json({"type": "status", **state, "backlog": True})
                parts = await database_sync_to_async(selectors.run_parts_state)(
                    run_id=self.run_id
                )
                if parts is not None:
                    await self.send_json({"type": "parts", **parts})

    async def run_snapshots(self, event) -> None:
        if not await self._session_alive():
            return
        await self._send_live({"type": "snapshots", "items": event["items"]})

    async def run_status(self, event) -> None:
        message = {
            "type": "status",
            "status": event["status"],
            "error": event.get("error", ""),
            "restarted": event.get("restarted", False),
            "last_seq": event.get("last_seq"),
        }
        if event["status"] == "queued":
            queue = await database_sync_to_async(_queue_state)(self.run_id)
            if queue is not None:
                message.update(queue)
        await self._send_live(message)

    async def run_parts(self, event) -> None:
        await self._send_live(
            {"type": "parts", "planned": event["planned"], "parts": event["parts"]}
        )

    async def run_presence(self, event) -> None:
        viewers = event.get("viewers")
        if isinstance(viewers, list):
            await self._send_live(
                {"type": "presence", "viewers": viewers, "you": self.presence_label}
            )

    async def _presence_join(self, user, *, visitor: bool) -> None:
        signed = user is not None and getattr(user, "is_authenticated", False)
        if visitor or not signed:
            self.presence_label, presence_user = presence.SHARE_VISITOR_LABEL, None
        else:
            self.presence_label, presence_user = user.get_username(), user
        self.presence_written_at = time.monotonic()
        viewers = await database_sync_to_async(presence.viewer_join)(
            run_id=self.run_id,
            channel_name=self.channel_name,
            user=presence_user,
            label=self.presence_label,
        )
        await self._presence_announce(viewers)

    async def _presence_seen(self) -> None:
        """A ping: refresh this socket's row, at most every RUN_PRESENCE_WRITE_S."""
        if getattr(self, "presence_label", None) is None:
            return
        now = time.monotonic()
        if now - self.presence_written_at < settings.RUN_PRESENCE_WRITE_S:
            return
        self.presence_written_at = now
        await database_sync_to_async(presence.viewer_seen)(
            channel_name=self.channel_name
        )

    async def _presence_announce(self, viewers: list[dict]) -> None:
        try:
            await self.channel_layer.group_send(
                self.group, {"type": "run.presence", "viewers": viewers}
            )
        except Exception:  # a broken layer must never break the stream itself
            log.warning("Could not announce presence on %s", self.group, exc_info=True)

    async def session_ended(self, event) -> None:
        await self.close(code=CLOSE_UNAUTHORIZED)

    async def share_revoked(self, event) -> None:
        await self.close(code=CLOSE_SHARE_ENDED)

    async def _session_alive(self) -> bool:
        """Whether the login session (or the share link) still holds, checked at
        most every `RUN_SESSION_CHECK_S` (a live message is frequent; a query each
        is not)."""
        now = time.monotonic()
        if now - self.session_checked_at < settings.RUN_SESSION_CHECK_S:
            return True
        self.session_checked_at = now
        if self.share_link_id is not None:
            # Let in by a share link, not a session: the link must still be active.
            if await database_sync_to_async(_share_active)(self.share_link_id):
                return True
            await self.close(code=CLOSE_SHARE_ENDED)
            return False
        session = self.scope.get("session")
        if session is None or settings.SESSION_ENGINE.endswith("signed_cookies"):
            return True  # a cookie session cannot be ended on the server
        key = session.session_key
        if key and await database_sync_to_async(session.exists)(key):
            return True
        await self.close(code=CLOSE_UNAUTHORIZED)
        return False

    async def _send_live(self, message: dict) -> None:
        # A group message can reach a consumer whose browser has just left, before
        # `disconnect` runs (django/channels#1820): nobody is there to tell.
        with contextlib.suppress(Disconnected):
            await self.send_json(message)


def _backlog_message(run_id, after: int, *, preview: bool) -> tuple[str | None, bool]:
    """The next catch-up message after `after` as JSON text (None if nothing is
    stored after it), and whether it is the last one."""
    limit = settings.RUN_RESYNC_PAGE_ITEMS
    fields = {"type": "snapshots", "backlog": True, "after": after}
    if preview:
        behind = selectors.run_snapshots_behind(run_id=run_id, after_seq=after)
        if behind > settings.RUN_RESYNC_PREVIEW_BEHIND:
            stride = math.ceil(behind / limit)
            rows = selectors.run_snapshot_sample(
                run_id=run_id, after_seq=after, stride=stride, limit=limit
            )
            parts, _ = _fit(rows)
            fields.update(through=after, more=True, downsampled=True, stride=stride)
            return _page_text(fields, parts), False
    rows = selectors.run_snapshot_page(run_id=run_id, after_seq=after, limit=limit + 1)
    if not rows:
        return None, True
    parts, through = _fit(rows[:limit])
    more = len(parts) < len(rows)
    fields.update(through=through, more=more, downsampled=False, stride=1)
    return _page_text(fields, parts), not more


def _fit(rows: list[tuple[int, dict]]) -> tuple[list[str], int]:
    """The leading rows whose JSON fits `RUN_RESYNC_PAGE_BYTES` (at least one, so a
    catch-up always moves), serialized, and the last seq taken."""
    budget = settings.RUN_RESYNC_PAGE_BYTES - ENVELOPE_BYTES
    parts: list[str] = []
    used, through = 0, -1
    for seq, data in rows:
        text = json.dumps(data)  # ASCII: characters are bytes
        if parts and used + len(text) + 1 > budget:
            break
        parts.append(text)
        used += len(text) + 1
        through = seq
    return parts, through


def _page_text(fields: dict, parts: list[str]) -> str:
    head = json.dumps(fields)
    return f'{head[:-1]}, "items": [{",".join(parts)}]}}'


def _run_state(run_id) -> dict:
    from dashboard.runs.models import Run

    run = Run.objects.only("status", "error", "last_seq", "created_at").get(pk=run_id)
    last_seq = run.last_seq if run.status in Run.FINAL else None
    state = {
        "status": run.status,
        "error": run.error,
        "restarted": False,
        "last_seq": last_seq,
    }
    queue = selectors.run_queue_state(run)
    if queue is not None:
        state.update(queue)
    return state


def _queue_state(run_id) -> dict | None:
    from dashboard.runs.models import Run

    run = Run.objects.only("status", "created_at").filter(pk=run_id).first()
    return None if run is None else selectors.run_queue_state(run)
