"""Stations: servers with cores and a FCFS queue, shared by services and databases.

A station is a busy-core count, a deque and two sums from which the time-integrals
(busy core-time, number present) follow exactly (see :class:`Instance`). Jobs end
through calendar entries the station pushes itself (``eventcalendar``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from heapq import heappush
from typing import TYPE_CHECKING, Any

from ..metrics import LatencyStats, waiting_summary
from .component import Component
from .eventcalendar import (
    DEAD,
    ERROR,
    NORMAL,
    OK,
    REJECTED,
    fire_pending,
)

if TYPE_CHECKING:
    from .balancer import Balancer
    from .context import RunContext

_NO_LIMIT = 1 << 62


class Visit:
    """A request at a station: waiting, in service, or waiting on its calls."""

    __slots__ = ("epoch", "inst", "parent", "pending", "req", "step", "t_arr")

    def resume(self, status: int) -> None:
        """The CPU work is done (status OK) or a dependency answered."""
        inst = self.inst
        if self.epoch != inst.epoch:  # the instance died while this waited on a call
            inst.errors += 1
            self.parent.resume(ERROR)
            return
        if status:
            self.parent.resume(ERROR if status == DEAD else status)
            return
        calls = inst.calls
        i = self.step
        if i < len(calls):
            self.step = i + 1
            target, delay = calls[i]
            if delay:
                self.pending = target
                heappush(
                    inst._q,
                    (
                        inst.env._now + delay,
                        NORMAL,
                        next(inst._eid),
                        fire_pending,
                        self,
                    ),
                )
            else:
                target.call(self.req, self)
        else:
            self.parent.resume(OK)


class Instance:
    """A server: ``cores`` cores serving one FCFS queue.

    Universal Scalability Law: a job starting while k cores are busy (itself
    included) takes work x (1 + a(k-1) + b k(k-1)) / speed, so a fully busy instance
    delivers C(N) = N / (1 + a(N-1) + b N(N-1)) core-equivalents.

    Time integrals without a clock per event: busy core-time up to T is
    sum(ends) - sum(starts) + busy * T (a job still in service counts up to T), so
    ``b_base`` takes ``-now`` when a job starts and ``+now`` when one ends, and a
    core passing straight to the next job changes nothing. ``n_base`` does the same
    for the number present (in service or queued). :meth:`touch` turns both into
    ``busy_area`` and ``n_area``. The bases stay of the order of cores x T, so they
    keep their precision over long runs.
    """

    __slots__ = (
        "_done",
        "_eid",
        "_q",
        "active",
        "arrived",
        "b_base",
        "busy",
        "busy_area",
        "calls",
        "comp",
        "cores",
        "down_count",
        "env",
        "epoch",
        "errors",
        "index",
        "lat_append",
        "n_area",
        "n_base",
        "name",
        "qlimit",
        "queue",
        "queued",
        "rejected",
        "service_name",
        "sessions",
        "sessions_lost",
        "stretch",
        "uid",
        "up",
        "wait_append",
        "work_read",
        "work_write",
        "write_work",
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
        self.comp = comp
        self.env = comp.env
        self._q = comp.env._queue
        self._eid = comp.env._eid
        self.service_name = comp.id
        self.name = name
        self.index = index
        self.uid = uid
        self.cores = cores
        self.stretch = stretch
        self.work_read = work_read
        self.work_write = work_write
        self.qlimit = _NO_LIMIT if queue_limit is None else queue_limit
        self.queue: deque[Visit] = deque()
        self.calls: tuple[tuple[Any, float], ...] = ()
        self.busy = 0
        self.b_base = 0.0
        self.n_base = 0.0
        self.busy_area = 0.0
        self.n_area = 0.0
        self.write_work = 0.0
        self.rejected = 0
        self.errors = 0
        self.up = True
        self.active = False
        self.down_count = 0
        self.epoch = 0
        self.lat_append = comp.lat.values.append
        # waiting (simulation.waiting, WaitingInstance): arrivals accepted, those
        # that found every core busy, the waits (> 0) of queued jobs as they start
        self.arrived = 0
        self.queued = 0
        self.wait_append = comp.waits.values.append if comp.waits is not None else None
        self.sessions: set[int] | None = set() if stateful else None
        self.sessions_lost = 0
        self._done = self._finish  # bound once, pushed per job

    def call(self, req: Any, parent: Any) -> None:
        # The hot path: written out in full (no helper calls) on purpose.
        if not self.up:
            parent.resume(DEAD)
            return
        busy = self.busy
        if busy >= self.cores and len(self.queue) >= self.qlimit:
            self.rejected += 1
            parent.resume(REJECTED)
            return
        now = self.env._now
        v = Visit()
        v.inst = self
        v.req = req
        v.parent = parent
        v.t_arr = now
        v.epoch = self.epoch
        self.n_base -= now
        if busy >= self.cores:
            self.queue.append(v)
            return
        busy += 1
        self.busy = busy
        self.b_base -= now
        if req.is_read:
            t = self.work_read() * self.stretch[busy]
        else:
            t = self.work_write() * self.stretch[busy]
            self.write_work += t
        heappush(self._q, (now + t, NORMAL, next(self._eid), self._done, v))

    def _finish(self, v: Visit) -> None:
        if v.epoch != self.epoch:  # the instance died during this job
            self.errors += 1
            v.parent.resume(ERROR)
            return
        now = self.env._now
        self.n_base += now
        # the latency is also the completion's count (StationComponent.window)
        self.lat_append(now - v.t_arr)
        queue = self.queue
        if queue:
            # the freed core starts the next job (busy count and b_base unchanged)
            nxt = queue.popleft()
            busy = self.busy
            if nxt.req.is_read:
                t = self.work_read() * self.stretch[busy]
            else:
                t = self.work_write() * self.stretch[busy]
                self.write_work += t
            heappush(self._q, (now + t, NORMAL, next(self._eid), self._done, nxt))
        else:
            self.busy -= 1
            self.b_base += now
        calls = self.calls
        if calls:
            # the first dependency call, as Visit.resume would make it
            v.step = 1
            target, delay = calls[0]
            if delay:
                v.pending = target
                heappush(
                    self._q, (now + delay, NORMAL, next(self._eid), fire_pending, v)
                )
            else:
                target.call(v.req, v)
        else:
            v.parent.resume(OK)

    def touch(self, now: float) -> None:
        """Bring ``busy_area`` and ``n_area`` up to ``now``."""
        busy = self.busy
        self.busy_area = self.b_base + busy * now
        self.n_area = self.n_base + (busy + len(self.queue)) * now

    def go_down(self) -> None:
        self.down_count += 1
        if not self.up:
            return
        now = self.env.now
        self.touch(now)
        # the jobs in service and in the queue end here, as errors
        self.b_base += self.busy * now
        self.n_base += (self.busy + len(self.queue)) * now
        self.up = False
        self.epoch += 1
        self.busy = 0
        queued, self.queue = self.queue, deque()
        if self.sessions:
            self.sessions_lost += len(self.sessions)
            self.sessions.clear()
        self.comp.capacity_changed()
        for v in queued:
            self.errors += 1
            v.parent.resume(ERROR)

    def come_up(self) -> None:
        self.down_count = max(0, self.down_count - 1)
        if self.up or self.down_count:
            return
        self.touch(self.env.now)
        self.up = True
        self.comp.capacity_changed()


class StatefulInstance(Instance):
    """Sessions live on the instance: it remembers every client it served, and
    loses those sessions when it dies."""

    __slots__ = ()

    def call(self, req: Any, parent: Any) -> None:
        if self.up:
            self.sessions.add(req.client)  # type: ignore[union-attr]
        Instance.call(self, req, parent)


class WaitingInstance(Instance):
    """``Instance`` that also measures waiting (``simulation.waiting: true``): it
    counts the requests it accepts and those that find every core busy, and hands
    each queued request's wait to the component's ``waits`` as it starts. A class
    of its own, chosen at build time, so documents without it run ``Instance``'s
    hot path as it was (these three counts cost about 6% of an M/M/4 run)."""

    __slots__ = ()

    def call(self, req: Any, parent: Any) -> None:
        # Instance.call, written out, with the two counts
        if not self.up:
            parent.resume(DEAD)
            return
        busy = self.busy
        if busy >= self.cores and len(self.queue) >= self.qlimit:
            self.rejected += 1
            parent.resume(REJECTED)
            return
        now = self.env._now
        v = Visit()
        v.inst = self
        v.req = req
        v.parent = parent
        v.t_arr = now
        v.epoch = self.epoch
        self.n_base -= now
        self.arrived += 1
        if busy >= self.cores:
            self.queued += 1
            self.queue.append(v)
            return
        busy += 1
        self.busy = busy
        self.b_base -= now
        if req.is_read:
            t = self.work_read() * self.stretch[busy]
        else:
            t = self.work_write() * self.stretch[busy]
            self.write_work += t
        heappush(self._q, (now + t, NORMAL, next(self._eid), self._done, v))

    def _finish(self, v: Visit) -> None:
        # Instance._finish, written out, with the wait of the job that starts
        if v.epoch != self.epoch:
            self.errors += 1
            v.parent.resume(ERROR)
            return
        now = self.env._now
        self.n_base += now
        self.lat_append(now - v.t_arr)
        queue = self.queue
        if queue:
            nxt = queue.popleft()
            self.wait_append(now - nxt.t_arr)  # type: ignore[misc]
            busy = self.busy
            if nxt.req.is_read:
                t = self.work_read() * self.stretch[busy]
            else:
                t = self.work_write() * self.stretch[busy]
                self.write_work += t
            heappush(self._q, (now + t, NORMAL, next(self._eid), self._done, nxt))
        else:
            self.busy -= 1
            self.b_base += now
        calls = self.calls
        if calls:
            v.step = 1
            target, delay = calls[0]
            if delay:
                v.pending = target
                heappush(
                    self._q, (now + delay, NORMAL, next(self._eid), fire_pending, v)
                )
            else:
                target.call(v.req, v)
        else:
            v.parent.resume(OK)


class StatefulWaitingInstance(WaitingInstance):
    """Sessions on the instance, and waiting measured."""

    __slots__ = ()

    def call(self, req: Any, parent: Any) -> None:
        if self.up:
            self.sessions.add(req.client)  # type: ignore[union-attr]
        WaitingInstance.call(self, req, parent)


class Counters:
    """Cumulative counters of a component, differenced per window. ``completions`` is
    kept in the run's total only: a window's completions are its latency count."""

    __slots__ = (
        "arrived",
        "busy",
        "cap",
        "completions",
        "errors",
        "n",
        "present",
        "queued",
        "rejected",
        "write_work",
    )

    def __init__(self) -> None:
        self.busy = self.cap = self.n = self.present = self.write_work = 0.0
        self.completions = self.errors = self.rejected = 0
        self.arrived = self.queued = 0


class StationComponent(Component):
    """Shared by services and databases: instances, capacity and window statistics."""

    #: True for processor-sharing instances: nobody waits for a core, so the
    #: report's ``waiting`` gives only the share of arrivals finding all cores busy.
    sharing = False

    def __init__(self, ctx: RunContext, cid: str) -> None:
        self.ctx = ctx
        self.env = ctx.env
        self.id = cid
        self.lat = LatencyStats()
        # waits > 0 at service start (FCFS), only with simulation.waiting
        self.waits = LatencyStats() if ctx.doc.simulation.waiting else None
        self.instances: list[Instance] = []
        self.active: list[Instance] = []
        self.cap_rate = 0.0
        self.cap_area = 0.0
        self.cap_last = 0.0
        self.prev = Counters()
        self.total = Counters()
        self.listeners: list[Balancer] = []
        self.count_changes: list[tuple[float, int]] = []
        self.count_area = 0.0
        self.count_last = 0.0

    def capacity_changed(self) -> None:
        now = self.env.now
        self.cap_area += self.cap_rate * (now - self.cap_last)
        self.cap_last = now
        self.cap_rate = float(sum(inst.cores for inst in self.active if inst.up))

    def set_active(self, inst: Instance, active: bool) -> None:
        now = self.env.now
        self.count_area += len(self.active) * (now - self.count_last)
        self.count_last = now
        if active and not inst.active:
            inst.active = True
            inst.touch(now)
            self.active.append(inst)
        elif not active and inst.active:
            inst.active = False
            self.active.remove(inst)
        if self.count_changes and self.count_changes[-1][0] == now:
            self.count_changes[-1] = (now, len(self.active))
        else:
            self.count_changes.append((now, len(self.active)))
        self.capacity_changed()
        self.active_changed()
        for lb in self.listeners:
            lb.rebuild()

    def active_changed(self) -> None:
        """Hook: the list of active instances changed."""

    def cumulative(self, now: float) -> Counters:
        c = Counters()
        for inst in self.instances:
            inst.touch(now)
            c.busy += inst.busy_area
            c.n += inst.n_area
            c.write_work += inst.write_work
            c.errors += inst.errors
            c.rejected += inst.rejected
            c.arrived += inst.arrived
            c.queued += inst.queued
        c.cap = self.cap_area + self.cap_rate * (now - self.cap_last)
        c.present = self.present_area(now, c)
        return c

    def present_area(self, now: float, c: Counters) -> float:
        """Requests present, integrated over time (``c.n``: jobs at the stations)."""
        return c.n

    def window(self, now: float, dt: float, measured: bool) -> dict[str, Any]:
        cur = self.cumulative(now)
        prev = self.prev
        d_busy = cur.busy - prev.busy
        d_cap = cur.cap - prev.cap
        d_n = cur.n - prev.n
        d_done = self.lat.window_count()  # one latency per completion
        if measured:
            t = self.total
            t.busy += d_busy
            t.cap += d_cap
            t.n += d_n
            t.present += cur.present - prev.present
            t.write_work += cur.write_work - prev.write_work
            t.completions += d_done
            t.errors += cur.errors - prev.errors
            t.rejected += cur.rejected - prev.rejected
            t.arrived += cur.arrived - prev.arrived
            t.queued += cur.queued - prev.queued
        self.prev = cur
        self.lat.close_window(measured)
        if self.waits is not None:
            self.waits.close_window(measured)
        out = {
            "utilization": ratio(d_busy, d_cap),
            "throughput_rps": d_done / dt if dt > 0 else 0.0,
            "queue_mean": max(d_n - d_busy, 0.0) / dt if dt > 0 else 0.0,
        }
        return out

    def start_measuring(self, now: float) -> None:
        """The warm-up ends: the instance count is averaged from here."""
        self.count_last = now
        self.count_area = 0.0

    def station_report(self, duration: float) -> dict[str, Any]:
        t = self.total
        out = {
            "type": self.type,
            "utilization": ratio(t.busy, t.cap),
            "throughput_rps": t.completions / duration,
            "queue_mean": max(t.n - t.busy, 0.0) / duration,
            "concurrency_mean": t.present / duration,
            "latency_ms": self.lat.summary_ms(),
            "rejected": int(t.rejected),
            "errors": int(t.errors),
            # busy core-time is all the work done (writes' work is summed as it starts)
            "read_work_share": ratio(t.busy - t.write_work, t.busy),
        }
        if self.waits is not None:
            out["waiting"] = waiting_summary(
                self.waits, t.arrived, t.queued, times=not self.sharing
            )
        return out


def ratio(a: float, b: float) -> float:
    return min(max(a / b, 0.0), 1.0) if b > 0 else 0.0


def stretch_table(cores: int, speed: float, a: float, b: float) -> list[float]:
    return [0.0] + [
        (1.0 + a * (k - 1) + b * k * (k - 1)) / speed for k in range(1, cores + 1)
    ]
