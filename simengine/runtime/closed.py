"""A closed workload (``workload.users``): users who send a request, wait for its
outcome (a response, an error, a timeout), think, and send the next.

:class:`ClosedSource` stands in for :class:`~.source.Source` when the document has
``users``, so an open workload's hot path (``Source.arrive``) is untouched. It has no
arrival of its own (``next_t`` stays infinite): a user's next request is a calendar
entry at the end of its think time, and its deadline (``workload.timeout_ms``) is an
entry too, so the user moves on when it gives up.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any

from ..document import Document
from ..variates import duration_sampler, uniform_sampler
from .eventcalendar import NORMAL, OK, REJECTED, fire_entry
from .source import ClientRequest, Source

if TYPE_CHECKING:
    from .context import RunContext


class UserRequest(ClientRequest):
    """A closed user's request: its outcome is counted as an open client's, then the
    user thinks. One class for the warm-up and after it (the closed workload is not
    the open one's hot path): a request that arrived in the warm-up is counted only
    if it also ends there, as :class:`~.source.WarmupRequest` does."""

    __slots__ = ("t_end", "user")

    def resume(self, status: int) -> None:
        if self.done:
            return  # the user gave up already (counted as a timeout then)
        self.done = True
        src = self.src
        now = src.env._now
        if self.t0 >= src.measure_from or now < src.measure_from:
            if status == OK:  # counted by its latency
                src.lat_append(now - self.t0)
            elif status == REJECTED:
                src.w_rejected += 1
            else:
                src.w_errors += 1
        src.think(self)


class ClosedSource(Source):
    """``users.count`` users (phases change the count), each one a client: a
    request at a time, then a think time (``users.think_ms``)."""

    def __init__(self, ctx: RunContext, doc: Document) -> None:
        super().__init__(ctx, doc)
        users = doc.workload.users
        assert users is not None
        # the open source's streams come first, in their order; these two are new
        # and made only for a closed workload
        self.think_draw = duration_sampler(users.think_ms, ctx.streams.generator())
        self.stagger = uniform_sampler(ctx.streams.generator())
        self.sweep = None  # every request has its deadline on the calendar
        self.measured_class = type(
            "UserRequest", (UserRequest,), {"__slots__": (), "src": self}
        )
        self.req_class = self.measured_class
        self.target_users = 0  # the count the document asks for now
        self.active = 0  # users in the system (thinking or waiting)
        # client numbers: users are spread over 0 .. clients-1 (regions by share)
        peak = max([users.count, *(p.users or 0 for p in doc.workload.phases)])
        self.peak_users = max(peak, 1)
        self.next_user = 0
        self.free_users: list[int] = []  # numbers of users that stopped, reused
        # measured: cycles (send -> next send of one user), their think times, and
        # user-seconds (the time integral of active users)
        self.m_cycles = 0
        self.m_cycle_s = 0.0
        self.m_think_s = 0.0
        self.user_s = 0.0  # sum of changes: -now when a user joins, +now when it leaves

    # the rate of an open workload: a closed one has none ----------------------------
    def set_rate(self, rate: float) -> None:
        """No arrival rate: users send when they have thought."""
        self.rate = rate
        self.next_t = math.inf

    def rates_process(self, horizon: float) -> Iterator[Any]:
        """Set the number of users at the start and at every phase."""
        env = self.env
        wl = self.wl
        assert wl.users is not None
        self.set_users(wl.users.count)
        for phase in wl.phases:
            if phase.at_s >= horizon:
                return
            if phase.at_s > env.now:
                yield env.timeout(phase.at_s - env.now)
            self.set_users(phase.users or 0)
            self.ctx.event(
                "phase_changed",
                None,
                f"workload phase: {phase.users} users",
                users=phase.users,
            )

    def set_users(self, count: int) -> None:
        """Ask for ``count`` users: new ones start after a share of a think time
        (so the start is not a spike); surplus ones stop after their cycle."""
        self.target_users = count
        now = self.env._now
        while self.active < count:
            self.active += 1
            self.user_s -= now
            if self.free_users:
                user = heappop(self.free_users)
            else:
                user = self.next_user
                self.next_user += 1
            start = now + self.stagger() * self.think_draw()
            heappush(self._q, (start, NORMAL, next(self._eid), self.first_send, user))

    # a user's cycle ------------------------------------------------------------------
    def think(self, req: UserRequest) -> None:
        """The request's outcome is known: the user thinks, then sends again."""
        now = self.env._now
        req.t_end = now
        heappush(
            self._q,
            (now + self.think_draw(), NORMAL, next(self._eid), self.next_send, req),
        )

    def give_up(self, req: UserRequest) -> None:
        """The deadline of ``workload.timeout_ms``: without an outcome by now the
        user gives up (a timeout) and thinks."""
        if req.done:
            return
        req.done = True
        now = self.env._now
        if req.t0 >= self.measure_from or now < self.measure_from:
            self.w_timeouts += 1
        self.think(req)

    def first_send(self, user: int) -> None:
        if self._leaves(user):
            return
        self.send(user)

    def next_send(self, prev: UserRequest) -> None:
        if self._leaves(prev.user):
            return
        now = self.env._now
        if prev.t0 >= self.measure_from:
            self.m_cycles += 1
            self.m_cycle_s += now - prev.t0
            self.m_think_s += now - prev.t_end
        self.send(prev.user)

    def _leaves(self, user: int) -> bool:
        """A surplus user (the count went down) stops instead of sending."""
        if self.active <= self.target_users:
            return False
        self.active -= 1
        self.user_s += self.env._now
        heappush(self.free_users, user)
        return True

    def send(self, user: int) -> None:
        """One request of ``user``: made as an open client's (``Source.arrive``);
        user u is client u x clients / peak users (regions get users by share)."""
        now = self.env._now
        req = self.req_class()
        req.t0 = now
        req.done = False
        req.user = user
        client = user * self.wl.clients // self.peak_users
        req.client = client
        self.w_offered += 1
        if self.mixed:
            req.is_read = self.uniform() < self.read_ratio
        else:
            req.is_read = self.all_reads
        if self.key_of is not None:
            req.key = self.key_of()
        if self.timeout_s < math.inf:
            heappush(
                self._q,
                (now + self.timeout_s, NORMAL, next(self._eid), self.give_up, req),
            )
        delay = self.delay
        for bound, d in self.region_bounds:
            if client < bound:
                delay = d
                break
        if delay:
            req.pending = self.entry
            heappush(self._q, (now + delay, NORMAL, next(self._eid), fire_entry, req))
        else:
            self.entry.call(req, req)

    # measuring -----------------------------------------------------------------------
    def start_measuring(self, now: float) -> None:
        """The warm-up ends: user-seconds are counted from now."""
        self.user_s = -self.active * now

    def report(self, duration: float, end: float) -> dict[str, Any]:
        """The report's ``closed`` key over the measured run (ending at ``end``)."""
        user_s = self.user_s + self.active * end
        cycles = self.m_cycles
        return {
            "users": user_s / duration if duration > 0 else 0.0,
            "think_ms_mean": self.m_think_s / cycles * 1000.0 if cycles else None,
            "cycle_ms": {
                "mean": self.m_cycle_s / cycles * 1000.0 if cycles else None,
            },
            "throughput_rps": cycles / duration if duration > 0 else 0.0,
        }
