"""Processor sharing: a service instance whose cores are shared by every request.

With n requests on an instance of c cores each gets min(1, c/n) of a core (the
usual model of a CPU-bound server running a thread per request). Chosen at build
time for ``discipline: ps`` (:class:`PsInstance`), so the FCFS ``Instance`` and its
hot path are untouched.

Every request present is served at the same rate, so one number tracks them all:
the virtual time ``vtime``, the work (seconds of a job at full speed) each
request present has received since the instance was last empty. It advances by
elapsed x rate(n) on every arrival and departure. A request arriving at virtual
time V with work w leaves when ``vtime`` reaches V + w (its remaining work is
V + w - vtime), so the requests wait in a heap ordered by that finish mark and only
the next departure is on the calendar. When n changes the departure moves: the
instance bumps ``version`` and pushes a new entry; the old one, carrying the old
version, does nothing when it comes up (the calendar's entries are never removed).

USL (``scaling``): with n present, k = min(n, c) cores are busy, and each request
progresses at min(1, c/n) / stretch[k] (``stretch`` as FCFS's: the USL factor over
``speed``), so a full instance delivers C(c) = c / (1 + a(c-1) + b c(c-1)) cores'
worth, as FCFS does. ``queue_limit``: an instance with cores + queue_limit requests
present refuses the next (503). Time integrals (busy cores = min(n, c), requests
present) use the same sums as ``Instance``.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from itertools import count
from typing import TYPE_CHECKING, Any

from .eventcalendar import DEAD, ERROR, NORMAL, OK, REJECTED
from .stations import Instance, Visit

if TYPE_CHECKING:
    from .stations import StationComponent


class PsInstance(Instance):
    """A server whose ``cores`` are shared equally by every request present."""

    __slots__ = (
        "_depart_cb",
        "_seq",
        "jobs",
        "limit",
        "n",
        "n_writes",
        "rate",
        "rates",
        "t_last",
        "version",
        "vtime",
    )

    def __init__(
        self,
        comp: StationComponent,
        name: str,
        index: int,
        uid: int,
        cores: int,
        stretch: list[float],
        work_read: Callable[[], float],
        work_write: Callable[[], float],
        queue_limit: int | None,
        stateful: bool,
    ) -> None:
        super().__init__(
            comp,
            name,
            index,
            uid,
            cores,
            stretch,
            work_read,
            work_write,
            queue_limit,
            stateful,
        )
        self.limit = cores + self.qlimit  # requests present at most
        # rate(n) for n = 1..cores; beyond, cores / (n x stretch[cores])
        self.rates = [0.0] + [
            min(1.0, cores / n) / stretch[min(n, cores)] for n in range(1, cores + 1)
        ]
        self.jobs: list[tuple[float, int, Visit]] = []  # (finish mark, seq, visit)
        self._seq = count()
        self.n = 0
        self.n_writes = 0
        self.rate = 0.0
        self.vtime = 0.0
        self.t_last = 0.0
        self.version = 0
        self._depart_cb = self._depart

    def _advance(self, now: float) -> None:
        """Bring the virtual time (and the write work done) up to ``now``."""
        dt = now - self.t_last
        if dt > 0.0 and self.n:
            self.vtime += dt * self.rate
            if self.n_writes:
                self.write_work += dt * self.busy * self.n_writes / self.n
        self.t_last = now

    def _set_rate(self, n: int) -> None:
        cores = self.cores
        self.rate = self.rates[n] if n <= cores else cores / (n * self.stretch[cores])

    def _schedule(self, now: float) -> None:
        """Put the next departure on the calendar (the old entry goes stale)."""
        self.version += 1
        if self.jobs:
            left = self.jobs[0][0] - self.vtime
            t = now + (left / self.rate if left > 0.0 else 0.0)
            heappush(
                self._q, (t, NORMAL, next(self._eid), self._depart_cb, self.version)
            )

    def call(self, req: Any, parent: Any) -> None:
        if not self.up:
            parent.resume(DEAD)
            return
        n = self.n
        if n >= self.limit:
            self.rejected += 1
            parent.resume(REJECTED)
            return
        now = self.env._now
        self._advance(now)
        v = Visit()
        v.inst = self
        v.req = req
        v.parent = parent
        v.t_arr = now
        v.epoch = self.epoch
        self.n_base -= now
        self.arrived += 1
        if n >= self.cores:
            self.queued += 1  # every core busy: the request shares them
        else:
            self.busy += 1
            self.b_base -= now
        if req.is_read:
            work = self.work_read()
        else:
            work = self.work_write()
            self.n_writes += 1
        heappush(self.jobs, (self.vtime + work, next(self._seq), v))
        n += 1
        self.n = n
        self._set_rate(n)
        self._schedule(now)

    def _depart(self, version: int) -> None:
        if version != self.version:
            return  # n changed since this departure was planned
        now = self.env._now
        self._advance(now)
        _, _, v = heappop(self.jobs)
        n = self.n - 1
        self.n = n
        self.n_base += now
        if n < self.cores:
            self.busy -= 1
            self.b_base += now
        if not v.req.is_read:
            self.n_writes -= 1
        if n:
            self._set_rate(n)
        else:
            self.vtime = 0.0  # empty: restart the virtual clock (keeps precision)
            self.rate = 0.0
        self._schedule(now)
        if v.epoch != self.epoch:  # the instance was restarted during this job
            self.errors += 1
            v.parent.resume(ERROR)
            return
        self.lat_append(now - v.t_arr)
        v.step = 0
        v.resume(OK)  # the visit goes on: its first call, or the answer

    def touch(self, now: float) -> None:
        self._advance(now)
        self.busy_area = self.b_base + self.busy * now
        self.n_area = self.n_base + self.n * now

    def go_down(self) -> None:
        self.down_count += 1
        if not self.up:
            return
        now = self.env.now
        self.touch(now)
        # every request present ends here, as an error
        self.b_base += self.busy * now
        self.n_base += self.n * now
        self.up = False
        self.epoch += 1
        self.busy = 0
        self.n = 0
        self.n_writes = 0
        self.rate = 0.0
        self.vtime = 0.0
        jobs, self.jobs = sorted(self.jobs), []
        self._schedule(now)  # the planned departure goes stale
        if self.sessions:
            self.sessions_lost += len(self.sessions)
            self.sessions.clear()
        self.comp.capacity_changed()
        for _, _, v in jobs:
            self.errors += 1
            v.parent.resume(ERROR)


class StatefulPsInstance(PsInstance):
    """Processor sharing, with sessions on the instance (``stateful: true``)."""

    __slots__ = ()

    def call(self, req: Any, parent: Any) -> None:
        if self.up:
            self.sessions.add(req.client)  # type: ignore[union-attr]
        PsInstance.call(self, req, parent)
