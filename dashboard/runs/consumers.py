"""The live run stream: one WebSocket per browser watching a run.

On connect the owner first gets the snapshots stored after `?after=SEQ`, then live
batches; a client that notices a gap in sequence numbers sends `{"type": "resync",
"after": SEQ}` and gets the stored ones again. Others are refused before the handshake.
"""

from __future__ import annotations

import contextlib
from urllib.parse import parse_qs

from autobahn.exception import Disconnected
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from dashboard.runs import selectors
from dashboard.runs.publish import group_name


def _after_from_query(scope) -> int:
    raw = parse_qs(scope.get("query_string", b"").decode()).get("after", ["-1"])[0]
    try:
        return max(-1, int(raw))
    except ValueError:
        return -1


class RunConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        run_id = self.scope["url_route"]["kwargs"]["run_id"]
        run = await database_sync_to_async(selectors.run_get_for_user_or_none)(
            user=user, run_id=run_id
        )
        if run is None:
            await self.close()  # before accept: the handshake is refused (403)
            return
        self.run_id = run.pk
        self.group = group_name(run.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self._send_backlog(_after_from_query(self.scope))

    async def disconnect(self, code) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        if isinstance(content, dict) and content.get("type") == "resync":
            try:
                after = int(content.get("after", -1))
            except (TypeError, ValueError):
                after = -1
            await self._send_backlog(after)

    async def _send_backlog(self, after: int) -> None:
        items, state = await database_sync_to_async(_backlog)(self.run_id, after)
        if items:
            await self.send_json({"type": "snapshots", "items": items, "backlog": True})
        await self.send_json({"type": "status", **state})

    async def run_snapshots(self, event) -> None:
        await self._send_live({"type": "snapshots", "items": event["items"]})

    async def run_status(self, event) -> None:
        await self._send_live(
            {
                "type": "status",
                "status": event["status"],
                "error": event.get("error", ""),
                "restarted": event.get("restarted", False),
                "last_seq": event.get("last_seq"),
            }
        )

    async def _send_live(self, message: dict) -> None:
        # A group message can reach a consumer whose browser has just left, before
        # `disconnect` runs (django/channels#1820): nobody is there to tell.
        with contextlib.suppress(Disconnected):
            await self.send_json(message)


def _backlog(run_id, after: int) -> tuple[list[dict], dict]:
    from dashboard.runs.models import Run

    run = Run.objects.only("status", "error", "last_seq").get(pk=run_id)
    items = selectors.run_snapshots(run_id=run_id, after_seq=after)
    last_seq = run.last_seq if run.status in Run.FINAL else None
    state = {"status": run.status, "error": run.error, "restarted": False}
    return items, {**state, "last_seq": last_seq}
