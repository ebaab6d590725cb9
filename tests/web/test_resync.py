"""Issue 11: a viewer catching up always recovers, however far behind it is.

The catch-up comes in bounded pages (never one message near Daphne's 1 MiB frame limit,
after which the browser reconnected forever), downsampled first when far behind, then
live; bad frames never close the socket with 1011; logging out closes it.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client

from dashboard.asgi import application
from dashboard.runs import publish
from dashboard.runs.consumers import CLOSE_UNAUTHORIZED
from dashboard.runs.models import Run, RunSnapshot
from tests.web.factories import StreamCommunicator, make_run, make_scenario

HEADERS = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
PAD = "x" * 600  # about 700 bytes a snapshot: 500 of them would overflow a page


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def _snapshot(seq: int) -> dict:
    return {"seq": seq, "t_s": float(seq), "rps": 10.0, "replication": 0, "pad": PAD}


def _store(run, seqs) -> None:
    RunSnapshot.objects.bulk_create(
        RunSnapshot(run=run, seq=seq, data=_snapshot(seq)) for seq in seqs
    )


def _logged_in(user) -> tuple[Client, bytes]:
    client = Client()
    client.force_login(user)
    value = client.cookies[settings.SESSION_COOKIE_NAME].value
    return client, f"{settings.SESSION_COOKIE_NAME}={value}".encode()


def _communicator(run_id, cookie: bytes, after: int = -1) -> WebsocketCommunicator:
    return StreamCommunicator(
        application,
        f"/ws/runs/{run_id}/?after={after}",
        headers=[*HEADERS, (b"cookie", cookie)],
    )


class Viewer:
    """What run.js does with the stream: keep snapshots by seq, follow `more` pages,
    ask for a resync on a gap in live data once no catch-up is under way."""

    def __init__(self, communicator, after: int = -1) -> None:
        self.communicator = communicator
        self.by_seq: dict[int, dict] = {}
        self.full: set[int] = set()  # seqs that came in a full (not downsampled) page
        self.last_contiguous = after
        self.catching_up = True
        self.sizes: list[int] = []
        self.messages: list[dict] = []

    def _advance(self) -> None:
        while self.last_contiguous + 1 in self.by_seq:
            self.last_contiguous += 1

    async def step(self, timeout: float = 10) -> dict:
        text = await self.communicator.receive_from(timeout=timeout)
        self.sizes.append(len(text.encode()))
        message = json.loads(text)
        self.messages.append(message)
        if message["type"] == "snapshots":
            for item in message["items"]:
                self.by_seq[item["seq"]] = item
                if message.get("backlog") and not message.get("downsampled"):
                    self.full.add(item["seq"])
            gap = any(s["seq"] > self.last_contiguous + 1 for s in message["items"])
            self._advance()
            if message.get("backlog") and message["more"]:
                await self.communicator.send_json_to(
                    {"type": "page", "after": message["through"]}
                )
            elif not message.get("backlog") and gap and not self.catching_up:
                self.catching_up = True
                await self.communicator.send_json_to(
                    {"type": "resync", "after": self.last_contiguous}
                )
        elif message["type"] == "status" and message.get("backlog"):
            self.catching_up = False
        return message

    async def until_caught_up(self) -> None:
        while True:
            message = await self.step()
            if message["type"] == "status" and message.get("backlog"):
                return


@pytest.mark.django_db(transaction=True)
def test_a_resync_of_a_10000_snapshot_run_arrives_whole_in_bounded_pages_then_live(
    alice,
):
    run = make_run(alice, make_scenario(alice), status=Run.Status.RUNNING)
    _store(run, range(10_000))
    _, cookie = _logged_in(alice)

    async def scenario():
        communicator = _communicator(run.pk, cookie)
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        viewer = Viewer(communicator)
        await viewer.until_caught_up()
        await sync_to_async(publish.publish_snapshots)(run.pk, [_snapshot(10_000)])
        live = await viewer.step()
        await communicator.disconnect()
        return viewer, live

    viewer, live = asyncio.run(scenario())
    pages = [
        m for m in viewer.messages if m["type"] == "snapshots" and m.get("backlog")
    ]
    outline = pages[0]
    assert outline["downsampled"] is True and outline["more"] is True
    assert outline["through"] == -1  # an outline fills in nothing for good
    assert 1 < len(outline["items"]) <= settings.RUN_RESYNC_PAGE_ITEMS
    assert outline["stride"] == 20
    assert viewer.full == set(range(10_000))
    assert all(len(p["items"]) <= settings.RUN_RESYNC_PAGE_ITEMS for p in pages)
    assert max(viewer.sizes) <= settings.RUN_RESYNC_PAGE_BYTES
    assert len(pages) > 10_000 // settings.RUN_RESYNC_PAGE_ITEMS  # the byte cap bit
    assert live["items"][0]["seq"] == 10_000 and "backlog" not in live
    assert viewer.last_contiguous == 10_000


@pytest.mark.django_db(transaction=True)
def test_a_viewer_away_for_minutes_catches_up_while_the_run_goes_on_then_is_live(
    alice,
):
    """Snapshots go on being stored and published during the catch-up, and some live
    messages are lost (at-most-once): the viewer still ends with every seq."""
    run = make_run(alice, make_scenario(alice), status=Run.Status.RUNNING)
    _store(run, range(3000))
    _, cookie = _logged_in(alice)

    async def scenario():
        communicator = _communicator(run.pk, cookie, after=99)
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        viewer = Viewer(communicator, after=99)
        viewer.by_seq.update((s, _snapshot(s)) for s in range(100))
        await viewer.step()  # the first page, or the outline
        # The run goes on: stored and published while pages are still coming.
        for start in (3000, 3010, 3020):
            seqs = range(start, start + 10)
            await database_sync_to_async(_store)(run, seqs)
            await sync_to_async(publish.publish_snapshots)(
                run.pk, [_snapshot(s) for s in seqs]
            )
        await viewer.until_caught_up()
        # A live message lost on the way (stored, never delivered), then the next.
        await database_sync_to_async(_store)(run, range(3030, 3041))
        await sync_to_async(publish.publish_snapshots)(run.pk, [_snapshot(3040)])
        while viewer.last_contiguous < 3040:
            await viewer.step()
        await communicator.disconnect()
        return viewer

    viewer = asyncio.run(scenario())
    assert sorted(viewer.by_seq) == list(range(3041))
    assert viewer.last_contiguous == 3040


@pytest.mark.django_db(transaction=True)
def test_bad_frames_are_ignored_and_the_socket_stays_open(alice):
    run = make_run(alice, make_scenario(alice), status=Run.Status.RUNNING)
    _store(run, range(5))
    _, cookie = _logged_in(alice)
    ignored = [
        "not json",
        "[" * 100_000,  # deeper than json.loads recurses
        '{"type": "resync", "after": Infinity}',
        '{"type": "resync", "after": -Infinity}',
        '{"type": "resync", "after": NaN}',
        '{"type": "resync", "after": 1e400}',
        '{"type": "resync", "after": 2.5}',
        '{"type": "resync", "after": "3"}',
        '{"type": "resync", "after": true}',
        '{"type": "resync", "after": [1]}',
        '{"type": "page"}',  # no after: from the start, answered below
        "[1, 2]",
        '"resync"',
        '{"type": "nonsense"}',
    ]

    async def scenario():
        communicator = _communicator(run.pk, cookie, after=4)
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        assert (await communicator.receive_json_from(timeout=5))["type"] == "status"
        await communicator.send_to(bytes_data=b"\x00\xff binary")
        for text in ignored:
            await communicator.send_to(text_data=text)
        first = await communicator.receive_json_from(timeout=5)  # the bare "page"
        await communicator.receive_json_from(timeout=5)  # its status
        answers = []
        for after in (-5, 10**30, 2):
            await communicator.send_json_to({"type": "resync", "after": after})
            answers.append(await communicator.receive_json_from(timeout=5))
            if answers[-1]["type"] == "snapshots":
                await communicator.receive_json_from(timeout=5)  # its status
        assert await communicator.receive_nothing(timeout=0.2)
        await communicator.disconnect()
        return first, answers

    first, (from_start, beyond, after_two) = asyncio.run(scenario())
    assert [s["seq"] for s in first["items"]] == [0, 1, 2, 3, 4]
    assert [s["seq"] for s in from_start["items"]] == [0, 1, 2, 3, 4]
    assert beyond["type"] == "status"  # nothing stored after the last possible seq
    assert [s["seq"] for s in after_two["items"]] == [3, 4]


@pytest.mark.django_db(transaction=True)
def test_logging_out_closes_the_sessions_run_socket(alice):
    run = make_run(alice, make_scenario(alice), status=Run.Status.RUNNING)
    client, cookie = _logged_in(alice)
    _, other_cookie = _logged_in(alice)  # the same user on another device

    async def scenario():
        mine = _communicator(run.pk, cookie)
        other = _communicator(run.pk, other_cookie)
        for communicator in (mine, other):
            assert (await communicator.connect(timeout=5))[0]
            await communicator.receive_json_from(timeout=5)
        response = await database_sync_to_async(client.post)("/accounts/logout/")
        assert response.status_code == 302
        closed = await mine.receive_output(timeout=5)
        await sync_to_async(publish.publish_snapshots)(run.pk, [_snapshot(0)])
        still_live = await other.receive_json_from(timeout=5)
        await other.disconnect()
        return closed, still_live

    closed, still_live = asyncio.run(scenario())
    assert closed == {"type": "websocket.close", "code": CLOSE_UNAUTHORIZED}
    assert still_live["items"][0]["seq"] == 0


@pytest.mark.django_db(transaction=True)
def test_a_session_deleted_without_a_logout_stops_the_stream(alice, settings):
    settings.RUN_SESSION_CHECK_S = 0
    run = make_run(alice, make_scenario(alice), status=Run.Status.RUNNING)
    client, cookie = _logged_in(alice)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value

    async def scenario():
        communicator = _communicator(run.pk, cookie)
        assert (await communicator.connect(timeout=5))[0]
        await communicator.receive_json_from(timeout=5)
        await database_sync_to_async(SessionStore(key).delete)()
        await sync_to_async(publish.publish_snapshots)(run.pk, [_snapshot(0)])
        return await communicator.receive_output(timeout=5)

    closed = asyncio.run(scenario())
    assert closed == {"type": "websocket.close", "code": CLOSE_UNAUTHORIZED}
