"""A service's calls in their mapping form: made with a probability, or through a
circuit breaker (``calls: [db, {to: search, probability: 0.3, breaker: {...}}]``).

Each is a small object with the callee's ``call(req, parent)``, put in the caller's
``Instance.calls`` tuple in the callee's place with no delay of its own (the object
carries the network delay itself, so a call not made or refused fast costs none). A
document without the mapping form never builds one: its calls stay
``(callee, delay)`` pairs and the hot path is unchanged.

``parent`` is always the caller's ``Visit``: a delayed call rides on it as any delayed
call does (``Visit.pending`` and ``fire_pending``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from heapq import heappush
from typing import TYPE_CHECKING, Any

from ..variates import uniform_sampler
from .eventcalendar import ERROR, NORMAL, OK, fire_pending

if TYPE_CHECKING:
    from ..document import Breaker
    from .context import RunContext


def _forward(env: Any, target: Any, delay: float, req: Any, parent: Any) -> None:
    """Hand ``req`` to ``target`` after the network ``delay`` (seconds)."""
    if delay:
        parent.pending = target
        heappush(
            env._queue, (env._now + delay, NORMAL, next(env._eid), fire_pending, parent)
        )
    else:
        target.call(req, parent)


class ProbableCall:
    """A call made with probability ``p``, independently per request; a request that
    does not make it goes straight on to its next call."""

    __slots__ = ("delay", "env", "inner", "made", "offered", "p", "uniform")

    def __init__(
        self,
        env: Any,
        inner: Any,
        delay: float,
        p: float,
        uniform: Callable[[], float],
    ) -> None:
        self.env = env
        self.inner = inner  # the callee, or its breaker (which delays itself)
        self.delay = delay
        self.p = p
        self.uniform = uniform
        self.offered = 0  # requests that reached this call (measured)
        self.made = 0  # ... and made it

    def call(self, req: Any, parent: Any) -> None:
        self.offered += 1
        if self.uniform() < self.p:
            self.made += 1
            _forward(self.env, self.inner, self.delay, req, parent)
        else:
            parent.resume(OK)

    def start_measuring(self, now: float) -> None:
        self.offered = self.made = 0

    def report(self) -> dict[str, Any]:
        return {
            "probability": self.p,
            "offered": self.offered,
            "made": self.made,
            "share": self.made / self.offered if self.offered else 0.0,
        }


_CLOSED, _OPEN, _HALF_OPEN = 0, 1, 2


class BreakerVisit:
    """One call through a breaker, on its way to the callee and back."""

    __slots__ = ("breaker", "parent", "pending", "req", "t_sent", "trial")

    def resume(self, status: int) -> None:
        self.breaker.answered(self, status)


class BreakerCall:
    """A circuit breaker on one call.

    Closed: calls go through and their outcomes fill a sliding window of
    ``window_s`` seconds; once it holds at least ``min_calls`` calls of which a
    share at or over ``error_rate`` failed (an error, a refusal or a dead callee;
    with a client timeout, also a call that took longer than it), the breaker opens.
    Open: every call fails at once (``ERROR``, counted as ``rejected``) for
    ``open_s``. The first call after that is the half-open trial (the others still
    fail fast while it is out; one still unanswered after ``open_s`` more gives way
    to a new trial): success closes the breaker with an empty window, failure opens
    it again. Outcomes of calls sent before it opened are not counted.
    """

    def __init__(
        self,
        ctx: RunContext,
        caller: str,
        to: str,
        target: Any,
        delay: float,
        spec: Breaker,
    ) -> None:
        self.ctx = ctx
        self.env = ctx.env
        self.caller = caller
        self.to = to
        self.target = target
        self.delay = delay
        self.error_rate = spec.error_rate
        self.window_s = spec.window_s
        self.open_s = spec.open_s
        self.min_calls = spec.min_calls
        timeout = ctx.doc.workload.timeout_ms
        self.timeout_s = timeout / 1000.0 if timeout else None
        self.state = _CLOSED
        self.outcomes: deque[tuple[float, bool]] = deque()
        self.failures = 0  # failed calls in ``outcomes``
        self.open_until = 0.0
        self.open_since = 0.0  # when it last left the closed state
        self.opened = self.closed = self.rejected = 0
        self.sent = self.failed = 0  # calls that went through; of them, failed
        self.open_time = 0.0  # measured time not closed, up to the last close
        self.measure_from = 0.0

    def call(self, req: Any, parent: Any) -> None:
        state = self.state
        now = self.env._now
        trial = False
        if state != _CLOSED:
            # open_s over (open), or the trial out for open_s without an answer
            # (half-open): this call is the trial
            if now >= self.open_until:
                self.state = _HALF_OPEN
                self.open_until = now + self.open_s
                trial = True
            else:
                self.rejected += 1
                parent.resume(ERROR)
                return
        self.sent += 1
        v = BreakerVisit()
        v.breaker = self
        v.req = req
        v.parent = parent
        v.t_sent = now
        v.trial = trial
        _forward(self.env, self.target, self.delay, req, v)

    def answered(self, v: BreakerVisit, status: int) -> None:
        now = self.env._now
        failed = status != OK or (
            self.timeout_s is not None and now - v.t_sent > self.timeout_s
        )
        self.failed += failed
        if v.trial and self.state == _HALF_OPEN:
            if failed:
                self._open(now, "re-opened: the trial call failed")
            else:
                self._close(now)
        elif self.state == _CLOSED:
            self._record(now, failed)
        v.parent.resume(status)

    def _record(self, now: float, failed: bool) -> None:
        outcomes = self.outcomes
        outcomes.append((now, failed))
        self.failures += failed
        limit = now - self.window_s
        while outcomes[0][0] < limit:
            self.failures -= outcomes.popleft()[1]
        n = len(outcomes)
        if failed and n >= self.min_calls and self.failures >= self.error_rate * n:
            self._open(
                now,
                f"opened: {self.failures} of the last {n} calls failed "
                f"(in {self.window_s:g} s)",
            )

    def _open(self, now: float, why: str) -> None:
        if self.state == _CLOSED:
            self.open_since = now
        self.state = _OPEN
        self.open_until = now + self.open_s
        self.opened += 1
        self.outcomes.clear()
        self.failures = 0
        self.ctx.event(
            "breaker_opened",
            self.caller,
            f"breaker {self.caller} -> {self.to} {why}; calls fail fast for "
            f"{self.open_s:g} s",
            to=self.to,
        )

    def _close(self, now: float) -> None:
        self.state = _CLOSED
        self.closed += 1
        self.open_time += max(now - max(self.open_since, self.measure_from), 0.0)
        self.ctx.event(
            "breaker_closed",
            self.caller,
            f"breaker {self.caller} -> {self.to} closed: the trial call succeeded",
            to=self.to,
        )

    def start_measuring(self, now: float) -> None:
        self.opened = self.closed = self.rejected = self.sent = self.failed = 0
        self.open_time = 0.0
        self.measure_from = now

    def report(self, end: float) -> dict[str, Any]:
        open_time = self.open_time
        if self.state != _CLOSED:
            open_time += max(end - max(self.open_since, self.measure_from), 0.0)
        return {
            "opened": self.opened,
            "closed": self.closed,
            "rejected": self.rejected,
            "open_s": open_time,
            "calls": self.sent,
            "failed": self.failed,
        }


def build_calls(
    ctx: RunContext, caller: str, region: str | None, calls: tuple[Any, ...]
) -> tuple[tuple[tuple[Any, float], ...], dict[str, ProbableCall], dict[str, Any]]:
    """A service's ``Instance.calls`` and the objects reporting on them (by callee;
    a callee called twice is keyed ``<to>[i]`` the second time)."""
    needs_draws = any(not isinstance(c, str) and c.probability < 1.0 for c in calls)
    uniform = None
    if needs_draws:
        # a stream of its own, created only when a call has a probability
        uniform = uniform_sampler(ctx.streams.generator())
    out: list[tuple[Any, float]] = []
    probable: dict[str, ProbableCall] = {}
    breakers: dict[str, BreakerCall] = {}
    for i, c in enumerate(calls):
        to = c if isinstance(c, str) else c.to
        target = ctx.components[to]
        delay = ctx.delay(region, ctx.spec(to).region)
        if isinstance(c, str) or (c.probability >= 1.0 and c.breaker is None):
            out.append((target, delay))
            continue
        inner, inner_delay = target, delay
        if c.breaker is not None:
            inner = BreakerCall(ctx, caller, to, target, delay, c.breaker)
            inner_delay = 0.0
            breakers[to if to not in breakers else f"{to}[{i}]"] = inner
        if c.probability < 1.0:
            assert uniform is not None
            inner = ProbableCall(ctx.env, inner, inner_delay, c.probability, uniform)
            probable[to if to not in probable else f"{to}[{i}]"] = inner
            out.append((inner, 0.0))
        else:
            out.append((inner, 0.0))
    return tuple(out), probable, breakers
