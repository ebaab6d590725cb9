"""Reliability row 6: the live stream over a real WebSocket application stack."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from django.conf import settings
from django.test import Client

from dashboard.asgi import application
from dashboard.runs import execution
from dashboard.runs.models import Run
from tests.web.factories import SMALL_DOC, StreamCommunicator, make_run, make_scenario

ORIGIN = (b"origin", b"http://127.0.0.1")


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """Each test runs its own event loop (asyncio.run); a layer object made in an
    earlier loop holds locks and connections bound to that loop, so start afresh."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def _cookie_for(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


def _communicator(run_id, *, cookie: bytes | None, origin=ORIGIN, after: int = -1):
    headers = [origin, (b"host", b"127.0.0.1")]
    if cookie:
        headers.append((b"cookie", cookie))
    return StreamCommunicator(
        application, f"/ws/runs/{run_id}/?after={after}", headers=headers
    )


async def _connects(communicator) -> bool:
    connected, _ = await communicator.connect(timeout=5)
    await communicator.disconnect()
    return connected


@pytest.mark.django_db(transaction=True)
def test_owner_connects_and_strangers_are_refused(alice, bob):
    run = make_run(alice, make_scenario(alice))

    async def scenario():
        assert await _connects(
            _communicator(run.pk, cookie=_cookie_for_async[alice.pk])
        )
        assert not await _connects(_communicator(run.pk, cookie=None))
        assert not await _connects(
            _communicator(run.pk, cookie=_cookie_for_async[bob.pk])
        )
        foreign = (b"origin", b"http://evil.example.com")
        assert not await _connects(
            _communicator(run.pk, cookie=_cookie_for_async[alice.pk], origin=foreign)
        )

    _cookie_for_async = {alice.pk: _cookie_for(alice), bob.pk: _cookie_for(bob)}
    asyncio.run(scenario())


@pytest.mark.django_db(transaction=True)
def test_owner_receives_every_snapshot_in_order_then_the_final_status(
    alice, monkeypatch
):
    monkeypatch.setattr("dashboard.runs.services._enqueue", lambda run_id: None)
    run = make_run(alice, make_scenario(alice))
    cookie = _cookie_for(alice)

    async def scenario():
        communicator = _communicator(run.pk, cookie=cookie)
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        hello = await communicator.receive_json_from(timeout=5)
        assert hello == {
            "type": "status",
            "status": "queued",
            "error": "",
            "restarted": False,
            "last_seq": None,
            "backlog": True,
            "position": 1,  # a queued run: its place in the queue, workers up
            "workers": 0,
        }
        status = await database_sync_to_async(execution.run_execute)(run_id=run.pk)
        assert status == Run.Status.SUCCEEDED
        seqs, final = [], None
        while final is None:
            message = await communicator.receive_json_from(timeout=10)
            if message["type"] == "snapshots":
                seqs.extend(item["seq"] for item in message["items"])
            elif message["status"] in Run.FINAL:
                final = message["status"]
        await communicator.disconnect()
        return seqs, final

    seqs, final = asyncio.run(scenario())
    run.refresh_from_db()
    assert final == Run.Status.SUCCEEDED
    assert seqs == list(range(run.last_seq + 1))


@pytest.mark.django_db(transaction=True)
def test_a_late_viewer_gets_the_stored_snapshots_after_its_last_seq(alice, monkeypatch):
    monkeypatch.setattr("dashboard.runs.services._enqueue", lambda run_id: None)
    run = make_run(alice, make_scenario(alice))
    execution.run_execute(run_id=run.pk)
    run.refresh_from_db()
    cookie = _cookie_for(alice)

    async def scenario():
        communicator = _communicator(run.pk, cookie=cookie, after=4)
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        backlog = await communicator.receive_json_from(timeout=5)
        await communicator.send_json_to({"type": "resync", "after": run.last_seq - 2})
        status = await communicator.receive_json_from(timeout=5)
        resync = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return backlog, status, resync

    backlog, status, resync = asyncio.run(scenario())
    assert backlog["backlog"] is True
    assert [s["seq"] for s in backlog["items"]] == list(range(5, run.last_seq + 1))
    assert status["status"] == "succeeded"
    assert [s["seq"] for s in resync["items"]] == [run.last_seq - 1, run.last_seq]


@pytest.mark.django_db(transaction=True)
def test_a_viewer_that_never_reads_does_not_hold_up_the_run(alice, monkeypatch):
    """Reliability row 12: 1000+ snapshots to a silent viewer; the run finishes and the
    viewer can tell from sequence numbers what it missed, then resync from storage."""
    monkeypatch.setattr("dashboard.runs.services._enqueue", lambda run_id: None)
    doc = SMALL_DOC.replace("duration_s: 20", "duration_s: 1200")
    run = make_run(alice, make_scenario(alice), text=doc)
    cookie = _cookie_for(alice)

    async def scenario():
        silent = _communicator(run.pk, cookie=cookie)
        connected, _ = await silent.connect(timeout=5)
        assert connected
        status = await database_sync_to_async(execution.run_execute)(run_id=run.pk)
        seqs, final = [], None
        while final is None:
            message = await silent.receive_json_from(timeout=10)
            if message["type"] == "snapshots":
                seqs.extend(item["seq"] for item in message["items"])
            elif message["status"] in Run.FINAL:
                final = message["status"]
        await silent.send_json_to({"type": "resync", "after": -1})
        resynced = []
        while True:  # pages, each asked for in turn (an outline first if far behind)
            page = await silent.receive_json_from(timeout=10)
            if page["type"] == "status" and page.get("backlog"):
                break  # the catch-up is done
            if page["type"] == "snapshots" and not page.get("downsampled", True):
                resynced.extend(item["seq"] for item in page["items"])
            if page.get("more"):
                await silent.send_json_to({"type": "page", "after": page["through"]})
        await silent.disconnect()
        return status, seqs, final, resynced

    status, seqs, final, resynced = asyncio.run(scenario())
    run.refresh_from_db()
    assert status == final == Run.Status.SUCCEEDED
    assert run.last_seq + 1 >= 1000
    assert seqs == sorted(set(seqs))  # in order, no duplicates: gaps are detectable
    assert resynced == list(range(run.last_seq + 1))
