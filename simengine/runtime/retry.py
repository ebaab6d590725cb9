"""Clients that retry (``workload.retry``): the client's side of every attempt.

Only a document with ``workload.retry`` builds any of this (the source wraps the
workload's target in a :class:`RetryClient` at link time), so the hot path of a
document without it is untouched.

A client request (:class:`RetryRequest`, counted once) is sent as one or more
*attempts* (:class:`Attempt`), each a separate request to the servers. An attempt
that answers with an error or a rejection, or that is still unanswered when the
client's ``workload.timeout_ms`` runs out, is followed by a re-send after the
backoff, up to ``retry.max`` re-sends. A timed-out attempt is abandoned, not
cancelled: the servers do not know the client left, keep it in their queues and do
its work, and its late answer reaches no one. That wasted work is what keeps an
overloaded system overloaded when clients re-send on timeouts (docs/resilience.md).

Counting (the report's ``requests``): a request ends once, with its last attempt:
completed (latency from the original arrival, backoffs and failed attempts
included), or an error, a rejection or a timeout after every attempt failed
(``gave_up``); ``retries`` counts re-sends. Past the warm-up, only requests that
arrived after it are counted, as for requests without retries.
"""

from __future__ import annotations

import math
from heapq import heappush
from typing import TYPE_CHECKING, Any

from ..document import Retry
from ..variates import uniform_sampler
from .eventcalendar import NORMAL, OK, REJECTED
from .source import ClientRequest

#: The most re-sends a retry budget saves up (its token bucket's size).
BUDGET_CAP = 10.0

if TYPE_CHECKING:
    from ..snapshot import Window
    from .context import RunContext
    from .source import Source


class RetryRequest(ClientRequest):
    """A client request that may be sent several times; ``cur`` is the attempt
    the client waits for (None while it backs off, and once it ended)."""

    __slots__ = ("cur", "hop", "tries")


class Attempt:
    """One sending of a request: what the servers see (is_read, client, key)."""

    __slots__ = ("client", "is_read", "key", "owner", "pending")
    rc: RetryClient  # a class attribute of the per-run subclass

    def resume(self, status: int) -> None:
        owner = self.owner
        if owner.cur is not self:
            return  # abandoned at its timeout: the answer reaches no one
        self.rc.answered(owner, status)


class RetryClient:
    """Stands in front of the workload's target: sends attempts, times them out,
    backs off and re-sends, and counts each request once when it ends."""

    def __init__(self, src: Source, ctx: RunContext, target: Any, retry: Retry) -> None:
        self.src = src
        self.env = ctx.env
        self._q = ctx.env._queue
        self._eid = ctx.env._eid
        self.target = target
        self.max = retry.max
        self.timeout_s = src.timeout_s
        self.timed = math.isfinite(self.timeout_s)
        # the k-th re-send waits backoff x factor^(k-1) (seconds)
        self.waits = [
            retry.backoff_ms / 1000.0 * retry.factor**k for k in range(retry.max)
        ]
        # a stream only when a draw is made: none for a document without jitter
        self.jitter = (
            uniform_sampler(ctx.streams.generator())
            if retry.jitter and retry.max > 0 and retry.backoff_ms > 0
            else None
        )
        # retry.budget: a token bucket, one token per re-send, ``budget`` earned
        # per first send, at most BUDGET_CAP saved up (it starts full)
        self.budget = retry.budget
        self.tokens = BUDGET_CAP
        self.copy_client = src.need_clients
        self.copy_key = src.key_of is not None
        self.attempt_class = type("Attempt", (Attempt,), {"__slots__": (), "rc": self})
        self.w_retries = self.w_gave_up = 0
        self._expire_h = self.expire
        self._resend_h = self.resend
        self._reach_h = self.reach

    # the client's side ------------------------------------------------------------
    def call(self, req: RetryRequest, parent: Any) -> None:
        """The first attempt reaches the target (after the client's network hop)."""
        now = self.env._now
        req.hop = now - req.t0
        req.tries = 0
        if self.budget is not None:
            self.tokens = min(self.tokens + self.budget, BUDGET_CAP)
        self.send(req, req.t0)

    def send(self, req: RetryRequest, t_sent: float) -> None:
        """An attempt, sent by the client at ``t_sent``, reaches the target now."""
        a = self.attempt_class()
        a.owner = req
        a.is_read = req.is_read
        if self.copy_client:
            a.client = req.client
        if self.copy_key:
            a.key = req.key
        req.cur = a
        req.tries += 1
        if self.timed:
            deadline = max(t_sent + self.timeout_s, self.env._now)
            heappush(self._q, (deadline, NORMAL, next(self._eid), self._expire_h, a))
        self.target.call(a, a)

    def counted(self, req: RetryRequest, now: float) -> bool:
        """In the warm-up every request counts; after it, those that arrived after."""
        src = self.src
        return now < src.measure_from or req.t0 >= src.measure_from

    def answered(self, req: RetryRequest, status: int) -> None:
        """The attempt the client waits for answered with ``status``."""
        now = self.env._now
        if status == OK:
            req.cur = None
            if self.counted(req, now):
                self.src.lat_append(now - req.t0)
            return
        if req.tries <= self.max and self.may_retry():
            self.back_off(req, now)
            return
        req.cur = None
        if self.counted(req, now):
            self.w_gave_up += 1
            if status == REJECTED:
                self.src.w_rejected += 1
            else:
                self.src.w_errors += 1

    def expire(self, a: Attempt) -> None:
        """An attempt's deadline: if still unanswered, the client abandons it."""
        req = a.owner
        if req.cur is not a:
            return
        now = self.env._now
        if req.tries <= self.max and self.may_retry():
            self.back_off(req, now)
            return
        req.cur = None
        if self.counted(req, now):
            self.w_gave_up += 1
            self.src.w_timeouts += 1

    def may_retry(self) -> bool:
        """Whether the budget (if any) allows one more re-send; it is spent here."""
        if self.budget is None:
            return True
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True

    def back_off(self, req: RetryRequest, now: float) -> None:
        req.cur = None
        wait = self.waits[req.tries - 1]
        if self.jitter is not None:
            wait *= self.jitter()
        if wait > 0:
            heappush(
                self._q, (now + wait, NORMAL, next(self._eid), self._resend_h, req)
            )
        else:
            self.resend(req)

    def resend(self, req: RetryRequest) -> None:
        """The client re-sends now; the attempt reaches the target after its hop."""
        now = self.env._now
        if self.counted(req, now):
            self.w_retries += 1
        if req.hop:
            heappush(
                self._q, (now + req.hop, NORMAL, next(self._eid), self._reach_h, req)
            )
        else:
            self.send(req, now)

    def reach(self, req: RetryRequest) -> None:
        self.send(req, self.env._now - req.hop)

    # the window -------------------------------------------------------------------
    def close_window(self, window: Window, counts: dict[str, int], dt: float) -> None:
        """Add the window's re-sends and attempts (the load the servers were
        offered) to its counts and to the window itself."""
        retries, self.w_retries = self.w_retries, 0
        gave_up, self.w_gave_up = self.w_gave_up, 0
        counts["retries"] = retries
        counts["gave_up"] = gave_up
        counts["attempts"] = counts["offered"] + retries
        per_s = 1.0 / dt if dt > 0 else 0.0
        extra: Any = window
        extra["retries"] = retries
        extra["retries_rps"] = retries * per_s
        extra["attempts_rps"] = counts["attempts"] * per_s
        extra["gave_up"] = gave_up
