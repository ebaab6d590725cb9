"""The run socket for fanned-out and queued runs: the `parts` message on connect and
live, a queued run's `position` and `workers`, and a silent viewer of a fanned run
(reliability row 12)."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.utils import timezone

from dashboard.asgi import application
from dashboard.runs import execution, publish, selectors
from dashboard.runs.models import Run, WorkerBeat
from tests.web.factories import SMALL_DOC, StreamCommunicator, make_run, queue_run

THREE = SMALL_DOC.replace("seed: 7,", "seed: 7, replications: 3,")
ORIGIN = (b"origin", b"http://127.0.0.1")

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_channel_layer(monkeypatch):
    monkeypatch.setattr("dashboard.runs.services._enqueue", lambda run_id: None)
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def _cookie_for(user) -> bytes:
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}".encode()


def _communicator(run_id, cookie: bytes, after: int = -1) -> WebsocketCommunicator:
    return StreamCommunicator(
        application,
        f"/ws/runs/{run_id}/?after={after}",
        headers=[ORIGIN, (b"host", b"127.0.0.1"), (b"cookie", cookie)],
    )


async def _until(communicator, predicate, limit: int = 10_000) -> list[dict]:
    seen = []
    for _ in range(limit):
        message = await communicator.receive_json_from(timeout=10)
        seen.append(message)
        if predicate(message):
            return seen
    raise AssertionError("never came")


def test_a_queued_run_s_status_carries_its_position_and_the_workers_up(alice, bob):
    make_run(bob)  # ahead of alice's in the queue
    run = make_run(alice)
    WorkerBeat.objects.create(hostname="w1@host", seen_at=timezone.now())
    cookie = _cookie_for(alice)

    async def scenario():
        communicator = _communicator(run.pk, cookie)
        assert (await communicator.connect(timeout=5))[0]
        hello = await communicator.receive_json_from(timeout=5)
        # A live queued status (the reaper re-queued it, the broker came back...).
        await database_sync_to_async(publish.publish_status)(
            run.pk, status="queued", error="note"
        )
        live = await communicator.receive_json_from(timeout=5)
        await database_sync_to_async(publish.publish_status)(run.pk, status="running")
        running = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return hello, live, running

    hello, live, running = asyncio.run(scenario())
    assert hello["status"] == "queued" and hello["backlog"] is True
    assert (hello["position"], hello["workers"]) == (2, 1)
    assert (live["position"], live["workers"], live["error"]) == (2, 1, "note")
    assert "position" not in running and "workers" not in running


def test_a_viewer_gets_the_parts_after_the_backlog_then_every_change_live(alice):
    run = queue_run(alice, THREE)
    execution.part_execute(run_id=run.pk, replication=1, worker="w1@host")
    cookie = _cookie_for(alice)

    async def scenario():
        communicator = _communicator(run.pk, cookie)
        assert (await communicator.connect(timeout=5))[0]
        first = await _until(communicator, lambda m: m["type"] == "parts")
        await database_sync_to_async(execution.part_execute)(
            run_id=run.pk, replication=2, worker="w2@host"
        )
        live = await _until(
            communicator,
            lambda m: m["type"] == "parts" and m["parts"][2]["status"] == "succeeded",
        )
        await communicator.disconnect()
        return first, live

    first, live = asyncio.run(scenario())
    types = [m["type"] for m in first]
    # The backlog (the lead has not streamed), its closing status, then the parts.
    assert types[-2:] == ["status", "parts"] and first[-2]["backlog"] is True
    assert first[-1]["planned"] == 3
    assert [p["status"] for p in first[-1]["parts"]] == [
        "queued",
        "succeeded",
        "queued",
    ]
    assert set(first[-1]["parts"][0]) == {
        "replication",
        "status",
        "worker",
        "attempts",
        "progress",
        "throughput_rps",
        "p99_ms",
        "error_rate",
    }
    running = next(m for m in live if m["type"] == "parts")
    assert running["parts"][2]["status"] == "running"
    assert running["parts"][2]["worker"] == "w2@host"
    assert live[-1] == {"type": "parts", **selectors.run_parts_state(run_id=run.pk)}


def test_a_run_without_parts_sends_no_parts_message(alice):
    run = make_run(alice)
    execution.run_execute(run_id=run.pk)
    cookie = _cookie_for(alice)

    async def scenario():
        communicator = _communicator(run.pk, cookie)
        assert (await communicator.connect(timeout=5))[0]
        seen = await _until(
            communicator, lambda m: m["type"] == "status" and m.get("backlog")
        )
        nothing = await communicator.receive_nothing(timeout=0.5)
        await communicator.disconnect()
        return seen, nothing

    seen, nothing = asyncio.run(scenario())
    assert nothing and all(m["type"] != "parts" for m in seen)


def test_a_silent_viewer_of_a_fanned_run_does_not_hold_up_its_parts(alice):
    """Row 12 for fanned runs: the lead's 1000+ snapshots and every parts message
    to a viewer that never reads; every part finishes, the seqs show any gap."""
    long_three = THREE.replace("duration_s: 20", "duration_s: 1200")
    run = queue_run(alice, long_three)
    cookie = _cookie_for(alice)

    async def scenario():
        silent = _communicator(run.pk, cookie)
        assert (await silent.connect(timeout=5))[0]
        for r in range(3):
            await database_sync_to_async(execution.part_execute)(
                run_id=run.pk, replication=r
            )
        seqs = []
        messages = await _until(
            silent, lambda m: m["type"] == "status" and m["status"] in Run.FINAL
        )
        for m in messages:
            if m["type"] == "snapshots":
                seqs.extend(item["seq"] for item in m["items"])
        await silent.disconnect()
        return seqs

    seqs = asyncio.run(scenario())
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED
    assert run.last_seq + 1 >= 1000
    assert seqs == sorted(set(seqs))
