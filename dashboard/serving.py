"""Serving under load: bounded requests in flight, a clean 503 past capacity.

Under ASGI every Django request runs on a thread of its own holding a database
connection, so without a bound the number of threads (and connections) grows with the
number of clients until PostgreSQL refuses them ("too many clients already") and pages
answer 500. `serve` wraps the Django HTTP application:

- a plain `GET /healthz` is answered at once on the event loop (no thread, no database);
- at most `WEB_MAX_IN_FLIGHT` requests run in Django at once per process; up to
  `WEB_QUEUE_MAX` more wait in arrival order, each at most `WEB_QUEUE_TIMEOUT_S`;
- a request past the queue, or waiting too long, is answered 503 with `Retry-After`.

WebSockets do not pass through it: their handshake never waits behind pages. Their
database reads (the session, the user, the run, the backlog) run on `WS_DB_THREADS`
threads of their own (`lanes`), each connection on the least busy one, instead of the
one thread per process that asgiref would otherwise share among them all.
`ShedOnPoolTimeout` and `server_error` turn a database pool that has no connection to
give (psycopg_pool.PoolTimeout, or PostgreSQL refusing a connection) into the same 503.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sys
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext
from django.conf import settings
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.views import defaults

log = logging.getLogger(__name__)

BUSY = "Scaleboard is busy: please try again in a moment."


def shed_response(reason: str = BUSY) -> HttpResponse:
    response = HttpResponse(reason, status=503, content_type="text/plain")
    response["Retry-After"] = str(settings.WEB_RETRY_AFTER_S)
    response["Cache-Control"] = "no-store"
    return response


def is_pool_exhaustion(exc: BaseException | None) -> bool:
    """The database had no connection to give: the pool timed out, or PostgreSQL is
    at max_connections. Not a bug of ours, so a 503 rather than a 500."""
    while exc is not None:
        if type(exc).__name__ == "PoolTimeout":
            return True
        if isinstance(exc, OperationalError) and "too many clients" in str(exc):
            return True
        exc = exc.__cause__
    return False


class ShedOnPoolTimeout:
    """A view that could not get a database connection answers 503 + Retry-After."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if is_pool_exhaustion(exception):
            log.warning("Shed %s: no database connection free", request.path)
            return shed_response()
        return None


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: pool exhaustion in a middleware (the session, the user) is a 503."""
    if is_pool_exhaustion(sys.exc_info()[1]):
        log.warning("Shed %s: no database connection free", request.path)
        return shed_response()
    return defaults.server_error(request)


async def _plain(send, status: int, body: bytes, headers=(), head=False) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else body})


class Gate:
    """At most `limit` holders; waiters are served first come, first served.

    While WebSocket handshakes are pending (`hold`), at most `held_limit` holders
    are let in: a page already running finishes, but new pages wait, so the
    threads that accept the sockets get the process's CPU (and GIL) instead of
    sharing it with every page in flight. A burst of viewers connects at once
    whatever the page load; pages lose a fraction of a second.
    """

    def __init__(self, limit: int, held_limit: int | None = None) -> None:
        self.limit, self.active = limit, 0
        self.held_limit = min(limit, held_limit if held_limit is not None else limit)
        self.holds = 0
        self.waiters: collections.deque[asyncio.Future] = collections.deque()

    @property
    def room(self) -> int:
        return self.held_limit if self.holds else self.limit

    async def acquire(self, queue_max: int, timeout: float) -> bool:
        if self.active < self.room and not self.waiters:
            self.active += 1
            return True
        if len(self.waiters) >= queue_max:
            return False
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter
            return True
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over as we gave up: pass it on
            elif waiter in self.waiters:
                self.waiters.remove(waiter)
            if isinstance(exc, TimeoutError):
                return False
            raise

    def release(self) -> None:
        self.active -= 1
        self._admit()

    def hold(self) -> None:
        self.holds += 1

    def unhold(self) -> None:
        self.holds -= 1
        self._admit()

    def _admit(self) -> None:
        while self.waiters and self.active < self.room:
            waiter = self.waiters.popleft()
            if not waiter.done():
                self.active += 1
                waiter.set_result(None)  # the slot goes straight to the next waiter


class Serve:
    def __init__(
        self,
        app,
        *,
        limit: int,
        queue_max: int,
        queue_timeout: float,
        held_limit: int | None = None,
    ):
        self.app = app
        self.gate = Gate(limit, held_limit)
        self.queue_max, self.queue_timeout = queue_max, queue_timeout
        self.retry_after = str(settings.WEB_RETRY_AFTER_S).encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        head = scope["method"] == "HEAD"
        if (
            scope["path"] == "/healthz"
            and not scope.get("query_string")
            and scope["method"] in ("GET", "HEAD")
        ):
            return await _plain(send, 200, b"ok", head=head)
        if not await self.gate.acquire(self.queue_max, self.queue_timeout):
            log.warning("Shed %s: %d requests waiting", scope["path"], self.queue_max)
            return await _plain(
                send,
                503,
                BUSY.encode(),
                [(b"retry-after", self.retry_after)],
                head=head,
            )
        try:
            await self.app(scope, receive, send)
        finally:
            self.gate.release()


def serve(app) -> Serve:
    return Serve(
        app,
        limit=settings.WEB_MAX_IN_FLIGHT,
        queue_max=settings.WEB_QUEUE_MAX,
        queue_timeout=settings.WEB_QUEUE_TIMEOUT_S,
        held_limit=settings.WEB_MAX_IN_FLIGHT_DURING_HANDSHAKES,
    )


class Lanes:
    """Each WebSocket connection's thread-sensitive calls run on one of a few threads.

    Given the pages' `gate`, a connection holds it from its arrival until the
    handshake is answered (accepted or refused), so pages make room (`Gate.hold`).
    """

    def __init__(self, app, threads: int, gate: Gate | None = None) -> None:
        self.app = app
        self.gate = gate
        self.executors = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"ws-db-{i}")
            for i in range(threads)
        ]
        self.open = [0] * threads

    async def __call__(self, scope, receive, send) -> None:
        lane = min(range(len(self.open)), key=self.open.__getitem__)
        self.open[lane] += 1
        gate = self.gate if scope.get("type") == "websocket" else None
        holding = gate is not None
        if holding:
            gate.hold()

        async def send_and_unhold(message) -> None:
            nonlocal holding
            if holding and message.get("type") in (
                "websocket.accept",
                "websocket.close",
            ):
                holding = False
                gate.unhold()
            await send(message)

        try:
            async with ThreadSensitiveContext(executor=self.executors[lane]):
                await self.app(scope, receive, send_and_unhold)
        finally:
            self.open[lane] -= 1
            if holding:
                gate.unhold()


def lanes(app, gate: Gate | None = None) -> Lanes:
    return Lanes(app, settings.WS_DB_THREADS, gate)
