"""Serving under load (reliability row 15): bounded connections, a clean 503 past
capacity, a health check that costs nothing, a reaper that outlives database errors.

The figures under load are bench/load.py's; these tests pin the behaviour behind them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError, connection
from django.test import Client, RequestFactory
from psycopg_pool import ConnectionPool, PoolTimeout

from dashboard import serving
from dashboard.runs import reaper

ROOT = Path(__file__).resolve().parents[2]


def _settings_in_a_fresh_process(**env) -> dict:
    code = (
        "import json, django; from django.conf import settings;"
        "import dashboard.settings as s;"
        "print(json.dumps({'options': s.DATABASES['default'].get('OPTIONS', {}),"
        " 'in_flight': s.WEB_MAX_IN_FLIGHT}))"
    )
    full = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DB_", "WEB_", "WS_", "DATABASE_URL"))
    }
    full.update(env)
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if out.returncode != 0:
        return {"error": out.stderr}
    return json.loads(out.stdout.strip().splitlines()[-1])


PG = "postgres://u@127.0.0.1:5432/nowhere"


def test_web_processes_get_a_bounded_pool_on_postgresql():
    got = _settings_in_a_fresh_process(
        DATABASE_URL=PG, DB_POOL="true", DB_POOL_MAX="6", DB_POOL_TIMEOUT_S="3"
    )
    assert got["options"]["pool"] == {"min_size": 2, "max_size": 6, "timeout": 3}
    # Pages in flight leave room in the pool for the WebSocket threads.
    assert got["in_flight"] == 2


def test_processes_that_are_not_web_servers_connect_per_use():
    got = _settings_in_a_fresh_process(DATABASE_URL=PG)
    assert "pool" not in got["options"]


def test_the_embedded_sqlite_default_has_no_pool():
    got = _settings_in_a_fresh_process(
        DB_POOL="true", SCALEBOARD_VAR_DIR="/tmp/sb-serve"
    )
    assert "pool" not in got["options"]


def test_pages_and_websocket_threads_beyond_the_pool_are_refused_at_start_up():
    got = _settings_in_a_fresh_process(
        DATABASE_URL=PG, DB_POOL="true", DB_POOL_MAX="4", WEB_MAX_IN_FLIGHT="4"
    )
    assert "must not exceed DB_POOL_MAX" in got["error"]


def test_the_asgi_entry_point_turns_the_pool_on_for_its_process():
    text = (ROOT / "dashboard" / "asgi.py").read_text()
    assert 'os.environ.setdefault("DB_POOL", "true")' in text
    assert text.index('setdefault("DB_POOL"') < text.index("get_asgi_application()")


def _pool_timeout_as_django_raises_it() -> OperationalError:
    error = OperationalError("couldn't get a connection after 5.00 sec")
    error.__cause__ = PoolTimeout("couldn't get a connection after 5.00 sec")
    return error


def test_a_view_that_finds_the_pool_empty_answers_503_with_retry_after():
    request = RequestFactory().get("/")
    middleware = serving.ShedOnPoolTimeout(lambda request: None)
    response = middleware.process_exception(
        request, _pool_timeout_as_django_raises_it()
    )
    assert response.status_code == 503
    assert response["Retry-After"] == "2"


def test_postgresql_at_max_connections_is_a_503_too():
    error = OperationalError("FATAL:  sorry, too many clients already")
    assert serving.is_pool_exhaustion(error)


def test_other_database_errors_stay_errors():
    request = RequestFactory().get("/")
    middleware = serving.ShedOnPoolTimeout(lambda request: None)
    assert middleware.process_exception(request, OperationalError("syntax")) is None
    assert middleware.process_exception(request, ValueError("bug")) is None


def test_pool_exhaustion_in_a_middleware_is_a_503_from_the_500_handler():
    request = RequestFactory().get("/")
    try:
        raise _pool_timeout_as_django_raises_it()
    except OperationalError:
        response = serving.server_error(request)
    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    try:
        raise ValueError("a bug")
    except ValueError:
        assert serving.server_error(request).status_code == 500


@pytest.mark.django_db
def test_a_real_exhausted_pool_raises_what_the_middleware_sheds():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL)")
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    conninfo = psycopg.conninfo.make_conninfo(**params)
    pool = ConnectionPool(conninfo, min_size=1, max_size=1, timeout=0.2)
    with pool, pool.connection(), pytest.raises(PoolTimeout) as caught:
        pool.getconn()
    assert serving.is_pool_exhaustion(caught.value)


@pytest.mark.django_db
def test_healthz_is_public_and_asks_the_database_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok"


@pytest.mark.django_db
def test_healthz_db_asks_the_database():
    response = Client().get("/healthz?db=1")
    assert (response.status_code, response.content) == (200, b"ok")


# --- the ASGI wrapper: /healthz before Django, a bounded number of pages in flight ---


class _SlowApp:
    """Stands for Django: counts calls, holds each request until released."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()

    async def __call__(self, scope, receive, send) -> None:
        self.calls += 1
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"page"})


async def _request(app, path="/", method="GET", query=b"") -> tuple[int, dict, bytes]:
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "path": path, "method": method, "query_string": query}
    await app(scope, receive, send)
    start = sent[0]
    headers = {k.decode(): v.decode() for k, v in start.get("headers", [])}
    return start["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])


def test_healthz_is_answered_before_django_even_with_every_slot_busy():
    async def scenario():
        inner = _SlowApp()
        app = serving.Serve(inner, limit=1, queue_max=0, queue_timeout=5)
        busy = asyncio.create_task(_request(app))
        await asyncio.sleep(0)
        status, _, body = await _request(app, "/healthz")
        inner.release.set()
        await busy
        return status, body, inner.calls

    assert asyncio.run(scenario()) == (200, b"ok", 1)


def test_past_the_queue_a_page_is_shed_with_503_and_retry_after():
    async def scenario():
        inner = _SlowApp()
        app = serving.Serve(inner, limit=1, queue_max=1, queue_timeout=5)
        first = asyncio.create_task(_request(app))
        second = asyncio.create_task(_request(app))  # waits in the queue
        await asyncio.sleep(0.01)
        shed = await _request(app)  # the queue is full
        inner.release.set()
        return shed, await first, await second

    shed, first, second = asyncio.run(scenario())
    assert shed[0] == 503 and shed[1]["retry-after"] == "2"
    assert first[0] == 200 and second[0] == 200  # the queued one was served


def test_a_page_waiting_too_long_is_shed_and_its_place_is_not_lost():
    async def scenario():
        inner = _SlowApp()
        app = serving.Serve(inner, limit=1, queue_max=5, queue_timeout=0.05)
        first = asyncio.create_task(_request(app))
        await asyncio.sleep(0)
        waited = await _request(app)  # gives up after 50 ms
        inner.release.set()
        await first
        after = await _request(app)  # the slot is free again
        return waited[0], after[0], app.gate.active

    assert asyncio.run(scenario()) == (503, 200, 0)


def test_websockets_are_not_held_behind_busy_pages():
    async def scenario():
        inner = _SlowApp()
        app = serving.Serve(inner, limit=1, queue_max=0, queue_timeout=5)
        busy = asyncio.create_task(_request(app))
        await asyncio.sleep(0)
        reached = []

        async def ws_app(scope, receive, send):
            reached.append(scope["type"])

        app.app = ws_app
        await app({"type": "websocket", "path": "/ws/runs/x/"}, None, None)
        app.app = inner
        inner.release.set()
        await busy
        return reached

    assert asyncio.run(scenario()) == ["websocket"]


def test_pages_make_room_while_a_websocket_handshake_is_pending():
    """Two page slots; while a socket's handshake is pending only one page runs, the
    next waits, and it starts as soon as the socket is accepted."""

    async def scenario():
        inner = _SlowApp()
        pages = serving.Serve(
            inner, limit=2, queue_max=5, queue_timeout=5, held_limit=1
        )
        accept = asyncio.Event()

        async def ws_app(scope, receive, send):
            await accept.wait()
            await send({"type": "websocket.accept"})
            await asyncio.Event().wait()  # the socket stays open

        sockets = serving.Lanes(ws_app, threads=1, gate=pages.gate)
        sent = []

        async def ws_send(message):
            sent.append(message)

        viewer = asyncio.create_task(sockets({"type": "websocket"}, None, ws_send))
        await asyncio.sleep(0)
        first = asyncio.create_task(_request(pages))
        second = asyncio.create_task(_request(pages))
        await asyncio.sleep(0.01)
        during = (inner.calls, pages.gate.active, len(pages.gate.waiters))
        accept.set()
        await asyncio.sleep(0.01)
        after = (inner.calls, pages.gate.active, sent)
        inner.release.set()
        await first
        await second
        viewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await viewer
        return during, after, pages.gate.holds

    during, after, holds = asyncio.run(scenario())
    assert during == (1, 1, 1)  # one page runs, one waits for the handshake
    assert after == (2, 2, [{"type": "websocket.accept"}])
    assert holds == 0


def test_a_refused_or_failing_handshake_gives_the_room_back():
    async def scenario():
        pages = serving.Serve(
            _SlowApp(), limit=2, queue_max=5, queue_timeout=5, held_limit=1
        )

        async def refuse(scope, receive, send):
            await send({"type": "websocket.close"})

        async def crash(scope, receive, send):
            raise RuntimeError("boom")

        async def ignore(message):
            pass

        await serving.Lanes(refuse, threads=1, gate=pages.gate)(
            {"type": "websocket"}, None, ignore
        )
        with contextlib.suppress(RuntimeError):
            await serving.Lanes(crash, threads=1, gate=pages.gate)(
                {"type": "websocket"}, None, ignore
            )
        return pages.gate.holds, pages.gate.room

    assert asyncio.run(scenario()) == (0, 2)


def test_websocket_database_calls_run_on_their_own_threads():
    async def scenario():
        threads = []
        gate = asyncio.Event()

        async def ws_app(scope, receive, send):
            threads.append(await sync_to_async(threading.get_ident)())
            await gate.wait()

        lanes = serving.Lanes(ws_app, threads=2)
        tasks = [asyncio.create_task(lanes({}, None, None)) for _ in range(2)]
        while len(threads) < 2:
            await asyncio.sleep(0.01)
        gate.set()
        await asyncio.gather(*tasks)
        return threads, lanes.open

    threads, still_open = asyncio.run(scenario())
    assert len(set(threads)) == 2  # two connections at once: two threads
    assert threading.get_ident() not in threads
    assert still_open == [0, 0]


# --- the reaper ---------------------------------------------------------------------


def test_the_reaper_survives_a_database_that_refuses_connections(monkeypatch):
    import django.db

    from dashboard.runs import services

    def refused(*args, **kwargs):
        raise OperationalError("FATAL:  sorry, too many clients already")

    monkeypatch.setattr(services, "runs_reap_stale", refused)
    reaper._reap()  # logged, retried next interval: nothing escapes
    monkeypatch.setattr(django.db, "close_old_connections", refused)
    reaper._reap()
