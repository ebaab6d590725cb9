"""The runtime: plain-Python stations driven by callbacks on SimPy's event calendar.

How a request moves
-------------------
The calendar is SimPy's (``env._queue``, the heap ``env.schedule`` pushes to), but
its entries carry their own handler: ``(time, priority, id, handler, arg)``, and
popping one calls ``handler(arg)`` (see :class:`Calendar`). A station pushes
``(end, NORMAL, id, instance._finish, visit)`` when a job starts: the waiting object
(a client request, a visit to a server, a visit to a balancer) is the argument, and
no event object, callback list or generator exists per request. SimPy's own events
are scheduled as ``(..., _fire_event, event)``, so ordinary SimPy processes run
unchanged beside the stations; they are kept for rare logic (rate changes, faults,
health checks, autoscaling). The driver steps the calendar itself. This relies on
SimPy 4's ``Environment`` internals (``_queue``, ``_eid``, ``_now``), which the
pinned version (4.1.2) has; tests/engine cover every path that uses them.

A caller hands work to a component with ``component.call(req, parent)``; the component
answers later with ``parent.resume(status)``. ``status`` is one of OK, ERROR,
REJECTED (queue or connection limit: a 503) and DEAD (the instance is down: a refused
connection, which a balancer may retry elsewhere; anyone else sees an error).

Stations (service instances, database nodes) are a busy-core count, a deque and two
sums from which the time-integrals (busy core-time, number present) follow exactly
(see :class:`Instance`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator
from heapq import heappop, heappush
from itertools import repeat
from typing import Any

import simpy

from .balancing import STRATEGIES
from .datatier import (
    CacheNodes,
    MissCoalescer,
    MultiPrimary,
    ReadYourWrites,
    Replication,
    WriteBehind,
    keys_moved_fraction,
    make_router,
)
from .document import (
    Cache,
    Database,
    Document,
    Keys,
    LoadBalancer,
    ReadWriteWork,
    Service,
    as_distribution,
)
from .errors import BudgetExceeded, Cancelled
from .metrics import LatencyStats
from .variates import (
    Streams,
    duration_sampler,
    integer_sampler,
    scaled_exponential_sampler,
    uniform_sampler,
    zipf_keys,
)

OK, ERROR, REJECTED, DEAD = 0, 1, 2, 3
_URGENT, _NORMAL = simpy.core.URGENT, simpy.core.NORMAL
_CHUNK = 16_384  # events between polls of should_stop, the budget and memory spills
_NO_LIMIT = 1 << 62


def _fire_event(event: simpy.events.Event) -> None:
    """Process a SimPy event: the body of ``simpy.Environment.step`` after the pop."""
    callbacks, event.callbacks = event.callbacks, None
    for callback in callbacks:
        callback(event)
    if not event._ok and not hasattr(event, "_defused"):
        exc = type(event._value)(*event._value.args)
        exc.__cause__ = event._value
        raise exc


class Calendar(simpy.Environment):
    """A SimPy environment whose calendar entries carry their handler.

    Entries are ``(time, priority, id, handler, arg)``: popping one calls
    ``handler(arg)``. SimPy's own events (timeouts, processes) are scheduled through
    :meth:`schedule` as ``(..., _fire_event, event)``, so processes run unchanged;
    the stations push their own entries with a bound method and the visit, with no
    event object and no callback list per job.
    """

    def schedule(
        self,
        event: simpy.events.Event,
        priority: int = _NORMAL,
        delay: float = 0,
    ) -> None:
        heappush(
            self._queue,
            (self._now + delay, priority, next(self._eid), _fire_event, event),
        )

    def step(self) -> None:
        try:
            self._now, _, _, handler, arg = heappop(self._queue)
        except IndexError:
            raise simpy.core.EmptySchedule from None
        handler(arg)


def _fire_pending(ev: Any) -> None:
    """A delayed call arrives: ``pending`` is the callee, ``ev`` the caller."""
    ev.pending.call(ev.req, ev)


def _fire_entry(ev: Any) -> None:
    """A request that is its own parent (a client request, a replicated write)
    reaches ``pending``."""
    ev.pending.call(ev, ev)


class _Boundary(Exception):
    """Raised at a window boundary to hand control back to the driver loop."""


def _raise_boundary(_: Any) -> None:
    raise _Boundary


# --- requests and visits ------------------------------------------------------------


class ClientRequest:
    """One request from a client; it is its own parent at the top of the call tree."""

    __slots__ = (
        "client",
        "done",
        "is_read",
        "key",
        "pending",
        "t0",
    )
    src: Source  # a class attribute of the per-run subclass

    def resume(self, status: int) -> None:
        src = self.src
        if status == OK:  # counted by its latency (LatencyStats.window_count)
            src.lat_append(src.env._now - self.t0)
        elif status == REJECTED:
            src.w_rejected += 1
        else:
            src.w_errors += 1


class TimedRequest(ClientRequest):
    """A request whose client gives up after ``workload.timeout_ms``."""

    __slots__ = ()

    def resume(self, status: int) -> None:
        if self.done:
            return  # the client gave up already (counted as a timeout then)
        self.done = True
        src = self.src
        latency = src.env._now - self.t0
        if latency > src.timeout_s:
            src.w_timeouts += 1
        elif status == OK:  # counted by its latency
            src.lat_append(latency)
        elif status == REJECTED:
            src.w_rejected += 1
        else:
            src.w_errors += 1


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
                        _NORMAL,
                        next(inst._eid),
                        _fire_pending,
                        self,
                    ),
                )
            else:
                target.call(self.req, self)
        else:
            self.parent.resume(OK)


class Relay:
    """Carries a call across a network delay for components without a station."""

    __slots__ = ("parent", "pending", "req")

    def resume(self, status: int) -> None:
        self.parent.resume(status)


class LbVisit:
    __slots__ = (
        "inst",
        "lb",
        "parent",
        "pending",
        "req",
        "t_sent",
        "tries",
    )

    def resume(self, status: int) -> None:
        lb = self.lb
        inst = self.inst
        lb.active[inst.uid] -= 1
        if lb.learns:
            lb.strategy.done(inst, lb.env._now - self.t_sent)
        if status == DEAD:
            if self.tries < lb.retries:
                self.tries += 1
                lb.retried += 1
                lb.retry(self)
                return
            lb.errors += 1
            self.parent.resume(ERROR)
        else:
            self.parent.resume(status)


# --- stations ----------------------------------------------------------------------------


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
        "rejected",
        "service_name",
        "sessions",
        "sessions_lost",
        "stretch",
        "uid",
        "up",
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
        heappush(self._q, (now + t, _NORMAL, next(self._eid), self._done, v))

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
            heappush(self._q, (now + t, _NORMAL, next(self._eid), self._done, nxt))
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
                    self._q, (now + delay, _NORMAL, next(self._eid), _fire_pending, v)
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


class Counters:
    """Cumulative counters of a component, differenced per window. ``completions`` is
    kept in the run's total only: a window's completions are its latency count."""

    __slots__ = (
        "busy",
        "cap",
        "completions",
        "errors",
        "n",
        "rejected",
        "write_work",
    )

    def __init__(self) -> None:
        self.busy = self.cap = self.n = self.write_work = 0.0
        self.completions = self.errors = self.rejected = 0


class StationComponent:
    """Shared by services and databases: instances, capacity and window statistics."""

    type = ""

    def __init__(self, sim: Sim, cid: str) -> None:
        self.sim = sim
        self.env = sim.env
        self.id = cid
        self.lat = LatencyStats()
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
        c.cap = self.cap_area + self.cap_rate * (now - self.cap_last)
        return c

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
            t.write_work += cur.write_work - prev.write_work
            t.completions += d_done
            t.errors += cur.errors - prev.errors
            t.rejected += cur.rejected - prev.rejected
        self.prev = cur
        self.lat.close_window(measured)
        out = {
            "utilization": _ratio(d_busy, d_cap),
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
        return {
            "type": self.type,
            "utilization": _ratio(t.busy, t.cap),
            "throughput_rps": t.completions / duration,
            "queue_mean": max(t.n - t.busy, 0.0) / duration,
            "concurrency_mean": t.n / duration,
            "latency_ms": self.lat.summary_ms(),
            "rejected": int(t.rejected),
            "errors": int(t.errors),
            # busy core-time is all the work done (writes' work is summed as it starts)
            "read_work_share": _ratio(t.busy - t.write_work, t.busy),
        }


def _ratio(a: float, b: float) -> float:
    return min(max(a / b, 0.0), 1.0) if b > 0 else 0.0


def _stretch(cores: int, speed: float, a: float, b: float) -> list[float]:
    return [0.0] + [
        (1.0 + a * (k - 1) + b * k * (k - 1)) / speed for k in range(1, cores + 1)
    ]


class ServiceRt(StationComponent):
    type = "service"

    def __init__(self, sim: Sim, cid: str, spec: Service) -> None:
        super().__init__(sim, cid)
        self.spec = spec
        rng = sim.streams.generator()
        if isinstance(spec.work_ms, ReadWriteWork):
            work_read = duration_sampler(as_distribution(spec.work_ms.read), rng)
            work_write = duration_sampler(as_distribution(spec.work_ms.write), rng)
        else:
            work_read = work_write = duration_sampler(
                as_distribution(spec.work_ms), rng
            )
        a = spec.scaling.contention if spec.scaling else 0.0
        b = spec.scaling.coherency if spec.scaling else 0.0
        stretch = _stretch(spec.cores, spec.speed, a, b)
        top = spec.autoscale.max if spec.autoscale else spec.instances
        kind = StatefulInstance if spec.stateful else Instance
        for i in range(max(top, spec.instances)):
            inst = kind(
                self,
                f"{cid}-{i}",
                i,
                sim.new_uid(),
                spec.cores,
                stretch,
                work_read,
                work_write,
                spec.queue_limit,
                spec.stateful,
            )
            self.instances.append(inst)
        for inst in self.instances[: spec.instances]:
            inst.active = True
            self.active.append(inst)
        self.count_changes.append((0.0, len(self.active)))
        self.capacity_changed()
        self.rr = 0
        self.booting = 0
        self.active_changed()

    def active_changed(self) -> None:
        # With one active instance a direct call goes straight to it (hot path).
        if len(self.active) == 1:
            self.call = self.active[0].call
        else:
            self.__dict__.pop("call", None)

    def call(self, req: Any, parent: Any) -> None:
        """A direct call (no balancer): round robin over the active instances."""
        active = self.active
        if not active:
            parent.resume(DEAD)
            return
        i = self.rr
        if i >= len(active):
            i = 0
        self.rr = i + 1
        active[i].call(req, parent)

    def window(self, now: float, dt: float, measured: bool) -> dict[str, Any]:
        out = super().window(now, dt, measured)
        out["instances"] = len(self.active)
        return out

    def report(self, duration: float, end: float) -> dict[str, Any]:
        out = self.station_report(duration)
        area = self.count_area + len(self.active) * (end - self.count_last)
        counts = [n for _, n in self.count_changes]
        out["instances"] = {
            "initial": self.spec.instances,
            "final": len(self.active),
            "min": min(counts),
            "max": max(counts),
            "mean": area / duration if duration > 0 else float(len(self.active)),
            "over_time": [[t, n] for t, n in self.count_changes],
        }
        out["cores"] = self.spec.cores
        out["sessions_lost"] = sum(inst.sessions_lost for inst in self.instances)
        return out


class DbVisit:
    """A read or write at a replicated database, waiting on one of its nodes."""

    __slots__ = ("node", "parent", "pending", "req", "rt", "t0")

    def resume(self, status: int) -> None:
        self.rt.node_done(self, status)


class _ApplyRequest:
    """A replica applying a replicated write: work nobody waits for."""

    __slots__ = ("client", "is_read", "key", "pending")

    def resume(self, status: int) -> None:
        pass


def _fire_resume_ok(ev: Any) -> None:
    ev.parent.resume(OK)


class DatabaseRt(StationComponent):
    """The primary (reads and writes, cores, a connection limit) and its replicas.

    Without replicas a call goes straight to the primary (part 1's hot path). With
    ``replicas`` (``simengine.datatier.Replication`` keeps the versions):

    - a write runs on the primary; when it is done, one lag per replica is drawn from
      ``lag_ms``, the version is recorded, each replica applies the write (a job of
      ``write_ms`` work) when its lag has passed, and the write is acknowledged after
      the mode's wait (async: none; semi_sync: the fastest replica; sync: the slowest);
    - a read goes to the next live replica (round robin), to the primary
      (``reads: primary``, or when no replica is up), or, with ``read_your_writes``,
      to the primary while the client's last write has not reached every replica;
    - a read served by a replica that has not received the key's newest committed
      write is a stale read;
    - a replica fault takes it out of the reads and the waits; it comes back caught up.

    Replicas have the primary's cores, read and write work and connection limit.
    """

    type = "database"

    def __init__(self, sim: Sim, cid: str, spec: Database) -> None:
        super().__init__(sim, cid)
        self.spec = spec
        p = spec.primary
        rng = sim.streams.generator()
        read = duration_sampler(as_distribution(p.read_ms), rng)
        write = duration_sampler(as_distribution(p.write_ms), rng)
        self.primary = self._add_node("primary", 0, read, write)
        self.replicas: list[Instance] = []
        self.repl: Replication | None = None
        self.stale_reads = 0
        self.replica_reads = 0
        self.lost_writes = 0
        self.promoted: str | None = None
        self.lag_sum = 0.0
        self.lag_count = 0
        self.lag_max = 0.0
        self.node_busy0: list[float] = []
        r_spec = spec.replicas
        if r_spec is not None and r_spec.count > 0:
            rrng = sim.streams.generator()
            r_read = duration_sampler(as_distribution(p.read_ms), rrng)
            r_write = duration_sampler(as_distribution(p.write_ms), rrng)
            self.lag = duration_sampler(as_distribution(r_spec.lag_ms), rrng)
            for i in range(r_spec.count):
                self.replicas.append(
                    self._add_node(f"replica-{i}", i + 1, r_read, r_write)
                )
            self.repl = Replication(r_spec.count, r_spec.mode)
            self.readable = [True] * r_spec.count  # False: promoted to primary
            self.reads_to = r_spec.reads
            self.ryw = ReadYourWrites()
            self.rr = 0
        self.primaries = [self.primary]
        self.multi: MultiPrimary | None = None
        self.conflicts = 0
        self.prr = 0
        if spec.primaries > 1:
            mrng = sim.streams.generator()
            m_read = duration_sampler(as_distribution(p.read_ms), mrng)
            m_write = duration_sampler(as_distribution(p.write_ms), mrng)
            for i in range(1, spec.primaries):
                self.primaries.append(
                    self._add_node(f"primary-{i}", len(self.instances), m_read, m_write)
                )
            self.multi = MultiPrimary(spec.primaries, spec.sync_ms)
            self.sync_s = spec.sync_ms / 1000.0
            if self.repl is None:
                self.readable = []
                self.reads_to = "primary"
        self.capacity_changed()
        if self.repl is None and self.multi is None:
            self.call = self.primary.call

    def _add_node(self, name: str, index: int, read: Any, write: Any) -> Instance:
        """A database node (primary, replica or extra primary) of the primary's size:
        its cores (at most its connections), the rest of the connections to queue."""
        p = self.spec.primary
        cores = min(p.cores, p.connections)
        inst = Instance(
            self,
            name,
            index,
            self.sim.new_uid(),
            cores,
            _stretch(cores, 1.0, 0.0, 0.0),
            read,
            write,
            p.connections - cores,
            False,
        )
        inst.active = True
        self.instances.append(inst)
        self.active.append(inst)
        return inst

    # --- replicated requests ----------------------------------------------------------
    def call(self, req: Any, parent: Any) -> None:
        v = DbVisit()
        v.rt = self
        v.req = req
        v.parent = parent
        v.t0 = self.env._now
        if not req.is_read:
            if self.multi is None:
                v.node = -1
                self.primary.call(req, v)
            else:  # a client writes to its home primary
                home = req.client % len(self.primaries)
                v.node = -1 - home
                self.primaries[home].call(req, v)
            return
        node = -1
        if self.reads_to != "primary" and not (
            self.reads_to == "read_your_writes"
            and self.ryw.needs_primary(req.client, v.t0)
        ):
            replicas = self.replicas
            n = len(replicas)
            i = self.rr
            for _ in range(n):
                if i >= n:
                    i = 0
                if replicas[i].up and self.readable[i]:
                    node = i
                    i += 1
                    break
                i += 1
            self.rr = i
        v.node = node
        if node >= 0:
            self.replicas[node].call(req, v)
        elif self.multi is None:
            self.primary.call(req, v)
        else:
            i = self.prr % len(self.primaries)
            self.prr = i + 1
            self.primaries[i].call(req, v)

    def node_done(self, v: DbVisit, status: int) -> None:
        req = v.req
        repl = self.repl
        now = self.env._now
        if self.multi is not None and not req.is_read and status == OK:
            self._multi_write(req, -1 - v.node, now)
        if repl is None:
            v.parent.resume(status)
            return
        if req.is_read:
            if status == OK and v.node >= 0:
                _, stale = repl.read(v.node, req.key, now)
                if now >= self.sim.warmup:
                    self.replica_reads += 1
                    self.stale_reads += stale
            v.parent.resume(status)
            return
        if status != OK:
            v.parent.resume(status)
            return
        lag = self.lag
        lags = [lag() for _ in self.replicas]
        _, wait = repl.write(req.key, now, lags)
        if now >= self.sim.warmup:
            for x in lags:
                self.lag_sum += x
                if x > self.lag_max:
                    self.lag_max = x
            self.lag_count += len(lags)
        env = self.env
        q = env._queue
        eid = env._eid
        readable = self.readable
        for r, x in enumerate(lags):
            inst = self.replicas[r]
            if inst.up and readable[r]:
                a = _ApplyRequest()
                a.is_read = False
                a.key = req.key
                a.client = 0
                a.pending = inst
                heappush(q, (now + x, _NORMAL, next(eid), _fire_entry, a))
        if self.reads_to == "read_your_writes":
            self.ryw.wrote(req.client, now + max(lags))
        if wait > 0:
            heappush(q, (now + wait, _NORMAL, next(eid), _fire_resume_ok, v))
        else:
            v.parent.resume(OK)

    def _multi_write(self, req: Any, home: int, now: float) -> None:
        """Last writer wins across primaries: count the conflict, and apply the
        write on every other primary ``sync_ms`` later."""
        assert self.multi is not None
        if self.multi.write(req.key, home, now) and now >= self.sim.warmup:
            self.conflicts += 1
        env = self.env
        for i, inst in enumerate(self.primaries):
            if i != home and inst.up:
                a = _ApplyRequest()
                a.is_read = False
                a.key = req.key
                a.client = 0
                a.pending = inst
                heappush(
                    env._queue,
                    (now + self.sync_s, _NORMAL, next(env._eid), _fire_entry, a),
                )

    def primary_fault(self, down: bool) -> None:
        """The primary dies (or comes back). With ``failover`` and replicas: the
        writes the most up-to-date replica had not received are lost now, writes
        fail for ``detect_s + promote_s``, then that replica becomes the primary."""
        if not down:
            self.primary.come_up()
            return
        self.primary.go_down()
        fo = self.spec.failover
        if fo is None or self.repl is None or self.promoted is not None:
            return
        now = self.env.now
        result = self.repl.fail_primary(now)
        if now >= self.sim.warmup:
            self.lost_writes += result.lost_writes
        if result.promoted is None:
            return
        slot = result.promoted
        self.readable[slot] = False  # it stops serving reads as a replica
        ev = self.env.timeout(fo.detect_s + fo.promote_s)
        ev.callbacks.append(lambda _e: self._promote(slot))

    def _promote(self, slot: int) -> None:
        inst = self.replicas[slot]
        self.primary = inst
        self.promoted = inst.name

    def node_fault(self, name: str, down: bool) -> None:
        """``replica-N`` goes down or comes back (``primary`` is part 1's)."""
        index = int(name.split("-", 1)[1])
        inst = self.replicas[index]
        assert self.repl is not None
        if down:
            inst.go_down()
            self.repl.replica_down(index)
        else:
            inst.come_up()
            if inst.up:
                self.repl.replica_up(index, self.env.now)

    def start_measuring(self, now: float) -> None:
        super().start_measuring(now)
        self.stale_reads = self.replica_reads = self.conflicts = 0
        for inst in self.instances:
            inst.touch(now)
        self.node_busy0 = [inst.busy_area for inst in self.instances]

    def window(self, now: float, dt: float, measured: bool) -> dict[str, Any]:
        out = super().window(now, dt, measured)
        self.prune(now)
        return out

    def prune(self, now: float) -> None:
        """Forget replication and conflict records no read can need any more."""
        if self.repl is not None:
            self.repl.prune(now)
            self.ryw.prune(now)
        if self.multi is not None:
            self.multi.prune(now)

    def report(self, duration: float, end: float) -> dict[str, Any]:
        out = self.station_report(duration)
        nodes = {"primary": {"utilization": out["utilization"]}}
        if len(self.instances) > 1:
            base = self.node_busy0 or [0.0] * len(self.instances)
            for inst, b0 in zip(self.instances, base, strict=True):
                inst.touch(end)
                nodes[inst.name] = {
                    "utilization": _ratio(inst.busy_area - b0, inst.cores * duration)
                }
        lag = (
            {
                "mean": self.lag_sum / self.lag_count * 1000.0,
                "max": self.lag_max * 1000.0,
            }
            if self.lag_count
            else {"mean": None, "max": None}
        )
        out.update(
            {
                "replication_lag_ms": lag,
                "stale_reads": self.stale_reads,
                "replica_reads": self.replica_reads,
                "lost_writes": self.lost_writes,
                "promoted": self.promoted,
                "conflicts": self.conflicts,
                "nodes": nodes,
                "shards": [{"utilization": out["utilization"], "share": 1.0}],
                "keys_moved": 0.0,
            }
        )
        return out


class _FanOut:
    """A scatter read: it answers when every shard has (the slowest decides)."""

    __slots__ = ("left", "parent", "status")

    def resume(self, status: int) -> None:
        if status != OK and self.status == OK:
            self.status = status
        self.left -= 1
        if not self.left:
            self.parent.resume(self.status)


class ShardedDatabaseRt(StationComponent):
    """A sharded database: every shard a primary (+ replicas), keys routed by a
    ``simengine.datatier`` shard router.

    Each shard is a ``DatabaseRt`` whose instances report to this component (one
    utilization over every node, per-shard utilization and share of requests).
    ``directory`` charges ``directory_ms`` before the shard is reached; ``geo`` routes
    by the client's region (``workload.regions``, document order). A read drawn as a
    scatter read (``workload.scatter_ratio``) goes to every shard and waits for the
    slowest. ``rebalance`` adds shards at ``at_s`` (new, empty-of-load nodes; moving
    the data itself is not modelled) and reports the share of the key space whose
    shard changed. Fault nodes: ``shard-N`` is shard N's primary; ``primary`` and
    ``replica-N`` are shard 0's.
    """

    type = "database"

    def __init__(self, sim: Sim, cid: str, spec: Database) -> None:
        super().__init__(sim, cid)
        self.spec = spec
        sh = spec.shards
        assert sh is not None
        wl = sim.doc.workload
        self.key_count = wl.keys.count if wl.keys is not None else Keys().count
        regions = list(wl.regions) if wl.regions else []
        self.router = make_router(
            sh.strategy,
            sh.count,
            self.key_count,
            ranges=sh.ranges,
            directory_ms=sh.directory_ms,
            regions=regions or ("default",),
            region_weights=[wl.regions[r] for r in regions] if wl.regions else None,
        )
        self.lookup_s = self.router.lookup_ms / 1000.0
        self.geo = sh.strategy == "geo"
        # client number -> region index, as the workload assigns clients to regions
        self.region_bounds: list[int] = []
        if wl.regions:
            acc = 0.0
            for i, name in enumerate(regions):
                acc += wl.regions[name]
                last = i == len(regions) - 1
                self.region_bounds.append(
                    wl.clients if last else round(acc * wl.clients)
                )
        self.shards: list[DatabaseRt] = []
        self.calls: list[int] = []
        self.calls0: list[int] = []
        self.born: list[float] = []
        self.busy0: dict[int, float] = {}
        self.measuring_from = 0.0
        self.keys_moved = 0.0
        for _ in range(sh.count):
            self._add_shard()
        self.scatter = wl.scatter_ratio
        self.uniform = (
            uniform_sampler(sim.streams.generator()) if self.scatter > 0 else None
        )

    def _add_shard(self) -> None:
        s = len(self.shards)
        inner = DatabaseRt(self.sim, f"{self.id}/shard-{s}", self.spec)
        for inst in inner.instances:
            inst.comp = self
            inst.lat_append = self.lat.values.append
            if inst is inner.primary:
                inst.name = f"shard-{s}"
            else:
                inst.name = f"shard-{s}-{inst.name}"
            inst.touch(self.env.now)
            self.instances.append(inst)
            self.active.append(inst)
        self.shards.append(inner)
        self.calls.append(0)
        self.calls0.append(0)
        self.born.append(self.env.now)
        self.capacity_changed()

    def call(self, req: Any, parent: Any) -> None:
        if self.uniform is not None and req.is_read and self.uniform() < self.scatter:
            f = _FanOut()
            f.left = len(self.shards)
            f.parent = parent
            f.status = OK
            for i, inner in enumerate(self.shards):
                self.calls[i] += 1
                inner.call(req, f)
            return
        region = 0
        if self.geo and self.region_bounds:
            client = req.client
            for region, bound in enumerate(self.region_bounds):  # noqa: B007
                if client < bound:
                    break
        i = self.router.shard_for(req.key, region)
        self.calls[i] += 1
        inner = self.shards[i]
        if self.lookup_s:
            r = Relay()
            r.req = req
            r.parent = parent
            r.pending = inner
            env = self.env
            heappush(
                env._queue,
                (env._now + self.lookup_s, _NORMAL, next(env._eid), _fire_pending, r),
            )
        else:
            inner.call(req, parent)

    def rebalance_process(self) -> Iterator[Any]:
        sh = self.spec.shards
        assert sh is not None and sh.rebalance is not None
        env = self.env
        if sh.rebalance.at_s > env.now:
            yield env.timeout(sh.rebalance.at_s - env.now)
        old = self.router
        new = old.rebalanced(sh.rebalance.add)
        for _ in range(sh.rebalance.add):
            self._add_shard()
        self.router = new
        self.lookup_s = new.lookup_ms / 1000.0
        self.keys_moved = keys_moved_fraction(old, new, self.key_count)

    def node_fault(self, node: Any, down: bool) -> None:
        name = "primary" if node is None else str(node)
        if name.startswith("shard-"):
            self.shards[int(name.split("-", 1)[1])].primary_fault(down)
        elif name == "primary":
            self.shards[0].primary_fault(down)
        elif self.shards[0].replicas:
            self.shards[0].node_fault(name, down)

    def start_measuring(self, now: float) -> None:
        super().start_measuring(now)
        self.measuring_from = now
        for inner in self.shards:
            inner.start_measuring(now)
        for inst in self.instances:
            inst.touch(now)
            self.busy0[id(inst)] = inst.busy_area
        self.calls0 = list(self.calls)

    def window(self, now: float, dt: float, measured: bool) -> dict[str, Any]:
        out = super().window(now, dt, measured)
        for inner in self.shards:
            inner.prune(now)
        return out

    def report(self, duration: float, end: float) -> dict[str, Any]:
        out = self.station_report(duration)
        nodes: dict[str, Any] = {}
        shards = []
        calls = [
            c - (self.calls0[i] if i < len(self.calls0) else 0)
            for i, c in enumerate(self.calls)
        ]
        total_calls = sum(calls)
        stale = replica_reads = lag_count = lost = conflicts = 0
        lag_sum = lag_max = span_sum = 0.0
        for s, inner in enumerate(self.shards):
            span = end - max(self.born[s], self.measuring_from)
            span_sum += span
            busy = cap = 0.0
            for inst in inner.instances:
                inst.touch(end)
                b = inst.busy_area - self.busy0.get(id(inst), 0.0)
                c = inst.cores * span
                nodes[inst.name] = {"utilization": _ratio(b, c)}
                busy += b
                cap += c
            shards.append(
                {
                    "utilization": _ratio(busy, cap),
                    "share": calls[s] / total_calls if total_calls else 0.0,
                }
            )
            stale += inner.stale_reads
            replica_reads += inner.replica_reads
            lost += inner.lost_writes
            conflicts += inner.conflicts
            lag_sum += inner.lag_sum
            lag_count += inner.lag_count
            lag_max = max(lag_max, inner.lag_max)
        out.update(
            {
                "replication_lag_ms": {
                    "mean": lag_sum / lag_count * 1000.0,
                    "max": lag_max * 1000.0,
                }
                if lag_count
                else {"mean": None, "max": None},
                "stale_reads": stale,
                "replica_reads": replica_reads,
                "lost_writes": lost,
                "conflicts": conflicts,
                "nodes": nodes,
                "shards": shards,
                "keys_moved": self.keys_moved,
                "shards_mean": span_sum / duration if duration > 0 else len(calls),
                "shard_strategy": self.router.strategy,
            }
        )
        return out


class CacheVisit:
    """A request at a cache: waiting out its hit time, or its call to the backing."""

    __slots__ = (
        "fill_version",
        "key",
        "node",
        "parent",
        "pending",
        "req",
        "rt",
        "t0",
    )

    def resume(self, status: int) -> None:
        """The backing store answered a miss or a write."""
        self.rt.backing_done(self, status)


class _FlushRequest:
    """A write-behind flush: a backing write nobody waits for."""

    __slots__ = ("client", "done", "is_read", "key", "pending", "t0")

    def resume(self, status: int) -> None:
        pass


class CacheRt:
    """A cache in front of a backing store (``simengine.datatier`` blocks).

    Reads: a hit answers after ``hit_ms``; a miss reads the backing store, fills the
    key (``cache_aside``/``read_through``; also on write_* strategies) and answers.
    Writes: ``cache_aside``/``read_through`` write the backing store, then
    invalidate the key (``invalidation: on_write``) or leave it to its TTL;
    ``write_through`` writes the backing store, then puts the new version;
    ``write_behind`` puts the new version, buffers the write on the key's node and
    answers after ``hit_ms``; a process flushes every ``flush_interval_s``.

    Versions: a write's version is committed when the backing store acknowledges it
    (write_behind: when the cache does). A miss fills the version committed when it
    was sent, so a write racing a miss can leave an old version cached. A hit on a
    version older than the newest committed one is a stale read. Writes that reach
    the database without passing through this cache are not seen.
    """

    type = "cache"

    def __init__(self, sim: Sim, cid: str, spec: Cache) -> None:
        self.sim = sim
        self.env = sim.env
        self.id = cid
        self.spec = spec
        self.backing: Any = None
        self.delay = 0.0
        rng = sim.streams.generator()
        self.hit_time = duration_sampler(as_distribution(spec.hit_ms), rng)
        self.nodes = CacheNodes(
            spec.nodes, spec.eviction, spec.capacity_keys, spec.ttl_s, rng=rng
        )
        self.caches = self.nodes.caches
        self.coalescer = MissCoalescer(spec.coalesce_misses)
        self.write_behind = (
            WriteBehind(spec.nodes, spec.flush_interval_s)
            if spec.strategy == "write_behind"
            else None
        )
        self.invalidate_on_write = spec.invalidation == "on_write"
        self.put_on_write = spec.strategy == "write_through"
        self.newest: dict[int, int] = {}  # key -> newest committed version
        self._hit_cb = self._hit_done
        self.lat = LatencyStats()
        self.lat_append = self.lat.values.append
        self.count = self.prev = self.total = 0
        self.stale_reads = 0
        self.lost_writes = 0  # measured (after the warm-up)
        self.prev_hits = self.prev_misses = 0

    # --- requests ---------------------------------------------------------------------
    def call(self, req: Any, parent: Any) -> None:
        env = self.env
        now = env._now
        self.count += 1
        key = req.key
        node = self.nodes.node_of(key)
        v = CacheVisit()
        v.rt = self
        v.req = req
        v.parent = parent
        v.key = key
        v.node = node
        v.t0 = now
        if node in self.nodes.down:  # every node is down: straight to the backing
            v.node = -1
            v.fill_version = -1
            self._to_backing(v)
            return
        cache = self.caches[node]
        if req.is_read:
            got = cache.get(key, now)
            if got is not None:
                if got < self.newest.get(key, 0):
                    self.stale_reads += 1
                heappush(
                    env._queue,
                    (now + self.hit_time(), _NORMAL, next(env._eid), self._hit_cb, v),
                )
                return
            if not self.coalescer.miss(key, v):
                return  # waits for the read of this key already in flight
            v.fill_version = self.newest.get(key, 0)
            self._to_backing(v)
            return
        # a write
        v.fill_version = -1
        wb = self.write_behind
        if wb is not None:
            version = self.newest.get(key, 0) + 1
            self.newest[key] = version
            cache.put(key, version, now)
            wb.write(node, key, version)
            heappush(
                env._queue,
                (now + self.hit_time(), _NORMAL, next(env._eid), self._hit_cb, v),
            )
            return
        self._to_backing(v)

    def _to_backing(self, v: CacheVisit) -> None:
        if self.delay:
            v.pending = self.backing
            env = self.env
            heappush(
                env._queue,
                (env._now + self.delay, _NORMAL, next(env._eid), _fire_pending, v),
            )
        else:
            self.backing.call(v.req, v)

    def _hit_done(self, v: CacheVisit) -> None:
        self.lat_append(self.env._now - v.t0)
        v.parent.resume(OK)

    def backing_done(self, v: CacheVisit, status: int) -> None:
        now = self.env._now
        key = v.key
        node = v.node
        if v.req.is_read:
            waiters = self.coalescer.filled(key) if v.fill_version >= 0 else ()
            if status == OK and node >= 0 and node not in self.nodes.down:
                self.caches[node].put(key, v.fill_version, now)
        else:
            waiters = ()
            if status == OK:
                version = self.newest.get(key, 0) + 1
                self.newest[key] = version
                if node >= 0 and node not in self.nodes.down:
                    if self.put_on_write:
                        self.caches[node].put(key, version, now)
                    elif self.invalidate_on_write:
                        self.caches[node].invalidate(key)
        if status == OK:
            self.lat_append(now - v.t0)
        v.parent.resume(status)
        for w in waiters:
            if status == OK:
                self.lat_append(now - w.t0)
            w.parent.resume(status)

    # --- write-behind and faults ------------------------------------------------------
    def flush_process(self) -> Iterator[Any]:
        wb = self.write_behind
        assert wb is not None
        env = self.env
        while True:
            yield env.timeout(wb.next_flush(env.now) - env.now)
            for node in range(len(self.caches)):
                for key in wb.flush(node):
                    req = _FlushRequest()
                    req.is_read = False
                    req.key = key
                    req.client = 0
                    req.t0 = env.now
                    req.done = False
                    self.backing.call(req, req)

    def node_fault(self, node: int, down: bool) -> None:
        if down:
            self.nodes.fail(node)
            if self.write_behind is not None:
                lost = self.write_behind.fail(node)
                if self.env.now >= self.sim.warmup:
                    self.lost_writes += lost
        else:
            self.nodes.recover(node)

    # --- metrics ----------------------------------------------------------------------
    def _counter(self, name: str) -> int:
        return self.nodes.counter(name)

    def window(self, now: float, dt: float, measured: bool) -> dict[str, Any]:
        d = self.count - self.prev
        self.prev = self.count
        if measured:
            self.total += d
        self.lat.close_window(measured)
        hits = self._counter("hits")
        misses = self._counter("misses")
        dh, dm = hits - self.prev_hits, misses - self.prev_misses
        self.prev_hits, self.prev_misses = hits, misses
        return {
            "utilization": 0.0,
            "throughput_rps": d / dt if dt > 0 else 0.0,
            "hit_ratio": _ratio(dh, dh + dm),
        }

    def start_measuring(self, now: float) -> None:
        for c in self.caches:
            c.reset_counters()
        self.prev_hits = self.prev_misses = 0
        self.stale_reads = 0
        self.coalescer.backing_reads = self.coalescer.coalesced = 0

    def report(self, duration: float, end: float) -> dict[str, Any]:
        hits = self._counter("hits")
        misses = self._counter("misses")
        return {
            "type": "cache",
            "utilization": 0.0,
            "throughput_rps": self.total / duration,
            "queue_mean": 0.0,
            "latency_ms": self.lat.summary_ms(),
            "hit_ratio": _ratio(hits, hits + misses),
            "hits": hits,
            "misses": misses,
            "stale_reads": self.stale_reads,
            "evictions": self._counter("evictions"),
            "expirations": self._counter("expirations"),
            "lost_writes": self.lost_writes,
            "lost_keys": self.nodes.lost_keys,
            "backing_reads": self.coalescer.backing_reads,
            "coalesced_misses": self.coalescer.coalesced,
            "nodes": len(self.caches),
        }


def _constant_latency(ms: float) -> dict[str, float]:
    return {k: ms for k in ("mean", "p50", "p90", "p95", "p99", "max")}


class Balancer:
    type = "load_balancer"

    def __init__(self, sim: Sim, cid: str, spec: LoadBalancer) -> None:
        self.sim = sim
        self.env = sim.env
        self.id = cid
        self.spec = spec
        self.overhead = spec.overhead_ms / 1000.0 if spec.layer == 7 else 0.0
        self.retries = spec.retries
        self.lb_up = [True] * spec.instances
        self.lb_down_count = [0] * spec.instances
        self.up_instances = spec.instances
        self.targets: list[ServiceRt] = []
        self.delay_to: dict[str, float] = {}
        self.healthy: dict[int, bool] = {}
        self.fails: dict[int, int] = {}
        self.oks: dict[int, int] = {}
        self.active: list[int] = []
        self.sent: list[int] = []
        self.sent_prev: list[int] = []
        self.sent_measured: list[int] = []
        self.strategy: Any = None
        self.learns = spec.algorithm == "least_response_time"
        self.errors = 0
        self.retried = 0
        self.arrivals = 0
        self.prev = (0, 0, 0)
        self.total = [0, 0, 0]  # arrivals, errors, retries
        self._fwd = self._forward
        self.pool: list[Instance] = []
        self.fast = False
        self.rr: Any = None

    def link(self, targets: list[ServiceRt], uniform: Callable[[], float]) -> None:
        self.targets = targets
        n = self.sim.uid_count
        self.active = [0] * n
        self.sent = [0] * n
        self.sent_prev = [0] * n
        self.sent_measured = [0] * n
        weights = dict(self.spec.weights or {})
        for t in targets:
            weights.setdefault(t.id, t.spec.cores * t.spec.speed)
        self.strategy = STRATEGIES[self.spec.algorithm](self.active, uniform, weights)
        self.pick = self.strategy.pick
        self.rr = self.strategy if self.spec.algorithm == "round_robin" else None
        self.fast = (
            not self.overhead
            and not any(self.delay_to.values())
            and self.spec.algorithm
            in ("round_robin", "weighted_round_robin", "ip_hash", "random")
        )
        for t in targets:
            t.listeners.append(self)
        self.target_uids = [inst.uid for t in targets for inst in t.instances]
        self.rebuild()

    def rebuild(self) -> None:
        self.pool = [inst for t in self.targets for inst in t.active]
        eligible = [i for i in self.pool if self.healthy.get(i.uid, True)]
        self.strategy.reset(eligible, self.pool)

    def call(self, req: Any, parent: Any) -> None:
        self.arrivals += 1
        if not self.up_instances:
            self.errors += 1
            parent.resume(ERROR)
            return
        if self.fast:
            # No overhead, no network delay, no per-request state to keep: hand the
            # request straight to the instance (a dead one refuses at once, so the
            # retries can happen here too).
            eligible = self.strategy.eligible
            if not eligible:
                self.errors += 1
                parent.resume(ERROR)
                return
            rr = self.rr
            if rr is not None:  # round robin, inlined: the most common balancer
                i = rr.next
                if i >= len(eligible):
                    i = 0
                rr.next = i + 1
                inst = eligible[i]
            else:
                inst = self.pick(req)
            self.sent[inst.uid] += 1
            if not inst.up:
                tries = 0
                while not inst.up:
                    if tries >= self.retries:
                        self.errors += 1
                        parent.resume(ERROR)
                        return
                    tries += 1
                    self.retried += 1
                    try:
                        i = eligible.index(inst) + 1
                    except ValueError:
                        i = 0
                    inst = eligible[i % len(eligible)]
                    self.sent[inst.uid] += 1
            inst.call(req, parent)
            return
        v = LbVisit()
        v.lb = self
        v.req = req
        v.parent = parent
        v.tries = 0
        if self.overhead:
            env = self.env
            heappush(
                env._queue,
                (env._now + self.overhead, _NORMAL, next(env._eid), self._fwd, v),
            )
        else:
            self._forward(v)

    def _forward(self, v: LbVisit) -> None:
        strategy = self.strategy
        if not strategy.eligible:
            self.errors += 1
            v.parent.resume(ERROR)
            return
        self._send(v, strategy.pick(v.req))

    def _send(self, v: LbVisit, inst: Instance) -> None:
        v.inst = inst
        uid = inst.uid
        self.active[uid] += 1
        self.sent[uid] += 1
        delay = self.delay_to[inst.service_name]
        env = self.env
        v.t_sent = env._now
        if delay:
            v.pending = inst
            heappush(
                env._queue,
                (env._now + delay, _NORMAL, next(env._eid), _fire_pending, v),
            )
        else:
            inst.call(v.req, v)

    def retry(self, v: LbVisit) -> None:
        """Retry on the next eligible instance after the one that failed."""
        eligible = self.strategy.eligible
        if not eligible:
            self.errors += 1
            v.parent.resume(ERROR)
            return
        try:
            i = eligible.index(v.inst) + 1
        except ValueError:
            i = 0
        self._send(v, eligible[i % len(eligible)])

    # health checks ----------------------------------------------------------------
    def probe_result(self, inst: Instance, ok: bool) -> None:
        hc = self.spec.health_check
        assert hc is not None
        uid = inst.uid
        changed = False
        if ok:
            self.fails[uid] = 0
            self.oks[uid] = self.oks.get(uid, 0) + 1
            if not self.healthy.get(uid, True) and self.oks[uid] >= hc.healthy_after:
                self.healthy[uid] = True
                changed = True
        else:
            self.oks[uid] = 0
            self.fails[uid] = self.fails.get(uid, 0) + 1
            if self.healthy.get(uid, True) and self.fails[uid] >= hc.unhealthy_after:
                self.healthy[uid] = False
                changed = True
        if changed:
            self.rebuild()

    def health_process(self) -> Iterator[Any]:
        hc = self.spec.health_check
        assert hc is not None
        env = self.env
        timeout_s = hc.timeout_ms / 1000.0
        while True:
            for inst in list(self.pool):
                if inst.up:
                    self.probe_result(inst, True)
                else:
                    ev = env.timeout(timeout_s)
                    ev.callbacks.append(
                        lambda _ev, inst=inst: self.probe_result(inst, False)
                    )
            yield env.timeout(hc.interval_s)

    # statistics ---------------------------------------------------------------------
    def window(self, now: float, dt: float, measured: bool) -> dict[str, Any]:
        cur = (self.arrivals, self.errors, self.retried)
        d = [c - p for c, p in zip(cur, self.prev, strict=True)]
        self.prev = cur
        if measured:
            for i in range(3):
                self.total[i] += d[i]
            sent, prev, meas = self.sent, self.sent_prev, self.sent_measured
            for i in self.target_uids:
                meas[i] += sent[i] - prev[i]
        self.sent_prev = list(self.sent)
        return {
            "utilization": 0.0,
            "throughput_rps": d[0] / dt if dt > 0 else 0.0,
            "errors": d[1],
        }

    def start_measuring(self, now: float) -> None:
        pass

    def report(self, duration: float, end: float) -> dict[str, Any]:
        total_sent = sum(self.sent_measured)
        share: dict[str, float] = {}
        for t in self.targets:
            for inst in t.instances:
                count = self.sent_measured[inst.uid]
                if count or inst.active:
                    share[inst.name] = count / total_sent if total_sent else 0.0
        return {
            "type": "load_balancer",
            "utilization": 0.0,
            "throughput_rps": self.total[0] / duration,
            "queue_mean": 0.0,
            "latency_ms": _constant_latency(self.overhead * 1000.0),
            "share": share,
            "errors": self.total[1],
            "retries": self.total[2],
            "instances": self.spec.instances,
        }

    def lb_fault(self, index: int | None, down: bool) -> None:
        indexes = range(self.spec.instances) if index is None else [index]
        for i in indexes:
            if down:
                self.lb_down_count[i] += 1
                self.lb_up[i] = False
            else:
                self.lb_down_count[i] = max(0, self.lb_down_count[i] - 1)
                self.lb_up[i] = self.lb_down_count[i] == 0
        self.up_instances = sum(self.lb_up)


# --- the client side -------------------------------------------------------------------


class Source:
    """Clients: arrivals at a (changing) rate, each request with client, key, mix."""

    def __init__(self, sim: Sim, doc: Document) -> None:
        self.sim = sim
        self.env = sim.env
        wl = doc.workload
        self.wl = wl
        self.kind = "constant" if wl.arrivals == "constant" else "poisson"
        self.constant = self.kind == "constant"
        self._q = sim.env._queue
        self._eid = sim.env._eid
        self.gap_rng = sim.streams.generator()
        self.gap: Callable[[], float] = repeat(0.0).__next__
        # the next arrival is not on the calendar: the driver compares its time with
        # the calendar's first entry (one heap push and pop fewer per request)
        self.next_t = math.inf
        base = TimedRequest if wl.timeout_ms else ClientRequest
        # ``src`` is a class attribute of a per-run subclass: no store per request
        self.req_class = type(base.__name__, (base,), {"__slots__": (), "src": self})
        self.mixed = 0.0 < wl.read_ratio < 1.0
        self.all_reads = wl.read_ratio >= 1.0
        self.uniform = uniform_sampler(sim.streams.generator())
        self.client_of = integer_sampler(sim.streams.generator(), wl.clients)
        keys_rng = sim.streams.generator()
        self.key_of: Callable[[], int] | None = None
        if wl.keys is not None:
            self.key_of = zipf_keys(
                keys_rng, wl.keys.count, wl.keys.zipf_s, wl.keys.shuffle
            )
        self.read_ratio = wl.read_ratio
        self.timeout_s = wl.timeout_ms / 1000.0 if wl.timeout_ms else math.inf
        self.sweep: deque[ClientRequest] | None = deque() if wl.timeout_ms else None
        self.entry: Any = None
        self.delay = 0.0
        self.region_bounds: list[tuple[int, float]] = []
        self.rate = 0.0
        self.lat = LatencyStats()
        self.lat_append = self.lat.values.append
        self.plain = False  # no mix, clients, keys, timeouts or regions to draw
        self.finished = 0  # over all windows, warm-up included
        self.offered = 0
        self.need_clients = True
        self.w_offered = self.w_errors = 0
        self.w_timeouts = self.w_rejected = 0

    def set_rate(self, rate: float) -> None:
        """Change the arrival rate now (memoryless: the next gap is drawn afresh)."""
        self.rate = rate
        if rate <= 0:
            self.next_t = math.inf
            return
        if self.constant:
            self.gap = repeat(1.0 / rate).__next__
        else:
            self.gap = scaled_exponential_sampler(self.gap_rng, 1.0 / rate)
        self.next_t = self.env._now + self.gap()

    def arrive(self) -> None:
        """The arrival due at ``next_t`` (the driver has set the clock to it)."""
        # The hot path: one request per call, written out in full on purpose.
        now = self.next_t
        self.next_t = now + self.gap()
        req = self.req_class()
        req.t0 = now
        self.w_offered += 1
        if self.plain:
            req.is_read = self.all_reads
            delay = self.delay
            if delay:
                req.pending = self.entry
                heappush(
                    self._q, (now + delay, _NORMAL, next(self._eid), _fire_entry, req)
                )
            else:
                self.entry.call(req, req)
            return
        if self.mixed:
            req.is_read = self.uniform() < self.read_ratio
        else:
            req.is_read = self.all_reads
        if self.need_clients:
            req.client = self.client_of()
        if self.key_of is not None:
            req.key = self.key_of()
        if self.sweep is not None:
            req.done = False
            self.sweep.append(req)
        if self.region_bounds:
            delay = self.delay
            client = req.client
            for bound, d in self.region_bounds:
                if client < bound:
                    delay = d
                    break
        else:
            delay = self.delay
        if delay:
            req.pending = self.entry
            heappush(self._q, (now + delay, _NORMAL, next(self._eid), _fire_entry, req))
        else:
            self.entry.call(req, req)

    def sweep_timeouts(self, now: float) -> None:
        """Count as timeouts the requests whose deadline has passed (the client gave
        up then, whatever the servers still do with them)."""
        sweep = self.sweep
        if sweep is None:
            return
        limit = now - self.timeout_s
        while sweep:
            req = sweep[0]
            if req.done:
                sweep.popleft()
            elif req.t0 < limit:
                sweep.popleft()
                req.done = True
                self.w_timeouts += 1
            else:
                break

    def rate_changes(self, horizon: float) -> Iterator[tuple[float, float]]:
        """(time, rate) changes: phases, multiplied by the bursty on/off pattern."""
        wl = self.wl
        phases = [(0.0, wl.rps)] + [(p.at_s, p.rps) for p in wl.phases]
        if wl.arrivals != "bursty":
            yield from phases
            return
        b = wl.bursty
        if b is None:
            from .document import Bursty

            b = Bursty()
        on_factor = b.factor
        off_factor = max(0.0, (b.on_s + b.off_s - b.factor * b.on_s) / b.off_s)
        cycle = b.on_s + b.off_s
        pi = 0
        k = 0
        next_edge, edge_on = 0.0, True
        state_on = True
        while True:
            next_phase = phases[pi + 1][0] if pi + 1 < len(phases) else math.inf
            t = min(next_edge, next_phase)
            if t >= horizon:
                return
            if next_phase <= t:
                pi += 1
            if next_edge <= t:
                state_on = edge_on
                if edge_on:
                    next_edge, edge_on = k * cycle + b.on_s, False
                else:
                    k += 1
                    next_edge, edge_on = k * cycle, True
            yield t, phases[pi][1] * (on_factor if state_on else off_factor)


# --- the simulation ----------------------------------------------------------------------


class Sim:
    """One replication of one document."""

    def __init__(self, doc: Document, seed: int, replication: int) -> None:
        self.doc = doc
        self.env = Calendar()
        self.streams = Streams(seed, replication)
        self.uid_count = 0
        self.warnings: list[str] = []
        sim_spec = doc.simulation
        self.warmup = sim_spec.warmup_s
        self.duration = sim_spec.duration_s
        self.horizon = self.warmup + self.duration
        self.components: dict[str, Any] = {}
        for cid, spec in doc.components.items():
            if isinstance(spec, Service):
                self.components[cid] = ServiceRt(self, cid, spec)
            elif isinstance(spec, Database):
                sharded = spec.shards is not None and (
                    spec.shards.count > 1 or spec.shards.rebalance is not None
                )
                kind = ShardedDatabaseRt if sharded else DatabaseRt
                self.components[cid] = kind(self, cid, spec)
            elif isinstance(spec, Cache):
                self.components[cid] = CacheRt(self, cid, spec)
            elif isinstance(spec, LoadBalancer):
                self.components[cid] = Balancer(self, cid, spec)
        self.source = Source(self, doc)
        self._link()
        self.events = 0

    def new_uid(self) -> int:
        self.uid_count += 1
        return self.uid_count - 1

    def delay(self, a: str | None, b: str | None) -> float:
        net = self.doc.network
        d = net.hop_ms
        if a is not None and b is not None and a != b:
            d += net.cross_region_ms
        return d / 1000.0

    def _link(self) -> None:
        doc = self.doc
        comps = self.components
        for cid, rt in comps.items():
            spec = doc.components[cid]
            if isinstance(rt, ServiceRt):
                calls = tuple(
                    (comps[c], self.delay(spec.region, doc.components[c].region))
                    for c in spec.calls
                )
                for inst in rt.instances:
                    inst.calls = calls
            elif isinstance(rt, CacheRt):
                rt.backing = comps[spec.backing]
                rt.delay = self.delay(spec.region, doc.components[spec.backing].region)
            elif isinstance(rt, Balancer):
                targets = [comps[t] for t in spec.targets]
                for t in targets:
                    rt.delay_to[t.id] = self.delay(spec.region, t.spec.region)
                rt.link(targets, uniform_sampler(self.streams.generator()))
        src = self.source
        wl = doc.workload
        src.need_clients = bool(wl.regions) or any(
            (isinstance(c, LoadBalancer) and c.algorithm == "ip_hash")
            or (isinstance(c, Service) and c.stateful)
            or (
                isinstance(c, Database)
                and c.replicas is not None
                and c.replicas.reads == "read_your_writes"
            )
            or (
                isinstance(c, Database)
                and c.shards is not None
                and c.shards.strategy == "geo"
            )
            or (isinstance(c, Database) and c.primaries > 1)
            for c in doc.components.values()
        )
        src.entry = comps[wl.target]
        entry_region = doc.components[wl.target].region
        src.delay = self.delay(None, None)
        if wl.regions:
            acc = 0.0
            bounds = []
            names = list(wl.regions)
            for i, name in enumerate(names):
                acc += wl.regions[name]
                bound = wl.clients if i == len(names) - 1 else round(acc * wl.clients)
                bounds.append((bound, self.delay(name, entry_region)))
            if len({d for _, d in bounds}) > 1:
                src.region_bounds = bounds
            else:
                src.delay = bounds[0][1]
        if src.key_of is None and any(
            isinstance(rt, (CacheRt, ShardedDatabaseRt))
            or (isinstance(rt, DatabaseRt) and (rt.replicas or rt.multi))
            for rt in comps.values()
        ):
            # every request names a key (default: 1M uniform keys, format 1)
            default = Keys()
            src.key_of = zipf_keys(
                self.streams.generator(), default.count, default.zipf_s
            )
        src.plain = not (
            src.mixed
            or src.need_clients
            or src.key_of is not None
            or src.sweep is not None
            or src.region_bounds
        )

    # processes ------------------------------------------------------------------------
    def _rates_process(self) -> Iterator[Any]:
        env = self.env
        for t, rate in self.source.rate_changes(self.horizon):
            if t >= self.horizon:
                return
            if t > env.now:
                yield env.timeout(t - env.now)
            self.source.set_rate(rate)

    def _fault_process(self, index: int) -> Iterator[Any]:
        fault = self.doc.faults[index]
        rt = self.components[fault.component]
        env = self.env
        yield env.timeout(fault.at_s)
        self._apply_fault(rt, fault, down=True)
        if fault.for_s is not None:
            yield env.timeout(fault.for_s)
            self._apply_fault(rt, fault, down=False)

    def _apply_fault(self, rt: Any, fault: Any, down: bool) -> None:
        if isinstance(rt, ShardedDatabaseRt):
            rt.node_fault(fault.node, down)
            return
        if isinstance(rt, Balancer):
            rt.lb_fault(fault.instance, down)
            return
        if isinstance(rt, CacheRt):
            rt.node_fault(fault.node if isinstance(fault.node, int) else 0, down)
            return
        if isinstance(rt, ServiceRt):
            targets = (
                rt.instances
                if fault.instance is None
                else [rt.instances[fault.instance]]
            )
        elif isinstance(rt, DatabaseRt) and fault.node in (None, "primary"):
            rt.primary_fault(down)
            return
        elif (
            isinstance(rt, DatabaseRt)
            and rt.replicas
            and isinstance(fault.node, str)
            and fault.node.startswith("replica-")
        ):
            rt.node_fault(fault.node, down)
            return
        else:
            return  # part 2
        for inst in targets:
            if down:
                inst.go_down()
            else:
                inst.come_up()

    def _autoscale_process(self, rt: ServiceRt) -> Iterator[Any]:
        spec = rt.spec.autoscale
        assert spec is not None
        env = self.env
        last_change = -math.inf
        prev = rt.cumulative(env.now)
        while True:
            yield env.timeout(spec.check_s)
            now = env.now
            cur = rt.cumulative(now)
            util = _ratio(cur.busy - prev.busy, cur.cap - prev.cap)
            if util > 0.95 and cur.cap > prev.cap:
                # saturated: utilization cannot say by how much, so count the
                # waiting requests as demand too (capped at twice the capacity)
                util = min(max(util, (cur.n - prev.n) / (cur.cap - prev.cap)), 2.0)
            prev = cur
            current = len(rt.active)
            planned = current + rt.booting
            desired = math.ceil(current * util / spec.target_utilization - 1e-9)
            desired = min(max(desired, spec.min), spec.max)
            if now - last_change < spec.cooldown_s:
                continue
            if desired > planned:
                spare = [
                    i
                    for i in rt.instances
                    if not i.active and not getattr(i, "_booting", False)
                ]
                for inst in spare[: desired - planned]:
                    rt.booting += 1
                    ev = env.timeout(spec.boot_s)
                    ev.callbacks.append(lambda _e, inst=inst: self._booted(rt, inst))
                last_change = now
            elif desired < current and rt.booting == 0:
                for inst in list(reversed(rt.active))[: current - desired]:
                    rt.set_active(inst, False)
                last_change = now

    def _booted(self, rt: ServiceRt, inst: Instance) -> None:
        rt.booting -= 1
        inst.epoch += 1
        rt.set_active(inst, True)

    # driver ----------------------------------------------------------------------------
    def boundaries(self) -> list[float]:
        snap = self.doc.simulation.snapshot_s
        out: list[float] = []
        k = 1
        while k * snap < self.warmup - 1e-9:
            out.append(k * snap)
            k += 1
        if self.warmup > 0:
            out.append(self.warmup)
        k = 1
        while self.warmup + k * snap < self.horizon - 1e-9:
            out.append(self.warmup + k * snap)
            k += 1
        out.append(self.horizon)
        return out

    def windows(
        self, should_stop: Callable[[], bool] | None, budget: int
    ) -> Iterator[tuple[dict[str, Any], bool]]:
        """Simulate to the horizon, yielding each window as it closes, with whether
        it is measured (after the warm-up). The run goes on when the caller asks
        for the next one."""
        env = self.env
        env.process(self._rates_process())
        for i in range(len(self.doc.faults)):
            env.process(self._fault_process(i))
        for rt in self.components.values():
            if isinstance(rt, Balancer) and rt.spec.health_check is not None:
                env.process(rt.health_process())
            if isinstance(rt, ServiceRt) and rt.spec.autoscale is not None:
                env.process(self._autoscale_process(rt))
            if isinstance(rt, CacheRt) and rt.write_behind is not None:
                env.process(rt.flush_process())
            if isinstance(rt, ShardedDatabaseRt) and rt.spec.shards.rebalance:
                env.process(rt.rebalance_process())
        queue = env._queue
        source = self.source
        arrive = source.arrive
        stats = [self.source.lat] + [
            rt.lat for rt in self.components.values() if hasattr(rt, "lat")
        ]
        t_prev = 0.0
        if self.warmup == 0:
            self._start_measuring(0.0)
        for boundary in self.boundaries():
            heappush(queue, (boundary, _URGENT, next(env._eid), _raise_boundary, None))
            i = 0
            try:
                while True:
                    for i in range(_CHUNK):  # noqa: B007 (i is read after the loop)
                        # the next arrival, or Calendar.step() inlined; the
                        # calendar is never empty here (the boundary entry is on it)
                        t = source.next_t
                        if t < queue[0][0]:
                            env._now = t
                            arrive()
                        else:
                            env._now, _, _, handler, arg = heappop(queue)
                            handler(arg)
                    self.events += _CHUNK
                    if self.events > budget:
                        raise BudgetExceeded(
                            f"the run took more than {budget} events "
                            "(Limits.max_events)"
                        )
                    if should_stop is not None and should_stop():
                        raise Cancelled("stopped by the caller")
                    for s in stats:
                        s.maybe_spill()
            except _Boundary:
                self.events += i + 1
                if self.events > budget:
                    raise BudgetExceeded(
                        f"the run took more than {budget} events (Limits.max_events)"
                    ) from None
            now = env.now
            measured = t_prev >= self.warmup - 1e-9
            yield self._close_window(t_prev, now, measured), measured
            if abs(now - self.warmup) < 1e-9 and self.warmup > 0:
                self._start_measuring(now)
            t_prev = now
            if should_stop is not None and should_stop():
                raise Cancelled("stopped by the caller")

    def _start_measuring(self, now: float) -> None:
        for rt in self.components.values():
            rt.start_measuring(now)

    def _close_window(self, t0: float, t1: float, measured: bool) -> dict[str, Any]:
        src = self.source
        src.sweep_timeouts(t1)
        dt = t1 - t0
        completed = src.lat.window_count()  # one latency per completed request
        p50, p99 = src.lat.close_window(measured, (0.5, 0.99))
        counts = {
            "offered": src.w_offered,
            "completed": completed,
            "errors": src.w_errors,
            "timeouts": src.w_timeouts,
            "rejected": src.w_rejected,
        }
        src.offered += counts["offered"]
        src.finished += (
            counts["completed"]
            + counts["errors"]
            + counts["timeouts"]
            + counts["rejected"]
        )
        src.w_offered = src.w_errors = 0
        src.w_timeouts = src.w_rejected = 0
        comps = {
            cid: rt.window(t1, dt, measured) for cid, rt in self.components.items()
        }
        return {
            "t_s": t1,
            "rps": counts["completed"] / dt if dt > 0 else 0.0,
            "latency_ms": {
                "p50": None if p50 is None else p50 * 1000.0,
                "p99": None if p99 is None else p99 * 1000.0,
            },
            "errors": counts["errors"],
            "timeouts": counts["timeouts"],
            "rejected": counts["rejected"],
            "components": comps,
            "_counts": counts,
        }
