"""A database: a primary (reads and writes, cores, a connection limit), its replicas
and other primaries; ``sharded.py`` builds a sharded one from several of these."""

from __future__ import annotations

from heapq import heappush
from typing import TYPE_CHECKING, Any

from ..datatier import MultiPrimary, ReadYourWrites, Replication
from ..document import Database
from ..variates import duration_sampler
from .context import plural
from .eventcalendar import NORMAL, OK, fire_entry
from .stations import (
    Counters,
    Instance,
    StationComponent,
    WaitingInstance,
    ratio,
    stretch_table,
)

if TYPE_CHECKING:
    from ..document import Fault
    from .context import RunContext


def database_needs_clients(spec: Database) -> bool:
    """Whether requests to this database must carry their client's number."""
    return (
        (spec.replicas is not None and spec.replicas.reads == "read_your_writes")
        or (spec.shards is not None and spec.shards.strategy == "geo")
        or spec.primaries > 1
    )


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


def _primary(name: str) -> str:
    """How the event log names a primary: "primary", or "primary shard-1"."""
    return name if name == "primary" else f"primary {name}"


def _discard(_: float) -> None:
    """Where a replicated database's nodes put their job latencies: the database
    records its queries' latencies itself (applying a write is no query)."""


def window_lag(parts: list[tuple[float, int, float]]) -> dict[str, float | None]:
    """One window's replication lag (ms) from ``take_window_lag`` parts: the mean
    and the largest lag drawn for the window's writes; None for both without any."""
    count = sum(p[1] for p in parts)
    if not count:
        return {"mean": None, "max": None}
    total = sum(p[0] for p in parts)
    return {"mean": total / count * 1000.0, "max": max(p[2] for p in parts) * 1000.0}


def _fire_ack(v: DbVisit) -> None:
    """A write acknowledged after its replication wait (semi_sync, sync)."""
    rt = v.rt
    now = rt.env._now
    rt.lat_append(now - v.t0)
    rt.q_in -= 1
    rt.q_base += now
    v.parent.resume(OK)


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

    def __init__(self, ctx: RunContext, cid: str, spec: Database) -> None:
        super().__init__(ctx, cid)
        self.spec = spec
        self.needs_clients = database_needs_clients(spec)
        self.lat_append = self.lat.values.append
        self.q_in = 0
        self.q_base = 0.0
        p = spec.primary
        rng = ctx.streams.generator()
        read = duration_sampler(p.read_ms, rng)
        write = duration_sampler(p.write_ms, rng)
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
        # this window's lags (warm-up included), for the timeline's replication lag
        self.w_lag_sum = 0.0
        self.w_lag_count = 0
        self.w_lag_max = 0.0
        self.node_busy0: list[float] = []
        r_spec = spec.replicas
        if r_spec is not None and r_spec.count > 0:
            rrng = ctx.streams.generator()
            r_read = duration_sampler(p.read_ms, rrng)
            r_write = duration_sampler(p.write_ms, rrng)
            self.lag = duration_sampler(r_spec.lag_ms, rrng)
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
            mrng = ctx.streams.generator()
            m_read = duration_sampler(p.read_ms, mrng)
            m_write = duration_sampler(p.write_ms, mrng)
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
        self.needs_keys = self.repl is not None or self.multi is not None
        if self.needs_keys:
            # replicas and other primaries apply writes too: a node's job is not
            # always a query, so the database times its queries itself
            for inst in self.instances:
                inst.lat_append = _discard
        else:
            self.call = self.primary.call

    def _add_node(self, name: str, index: int, read: Any, write: Any) -> Instance:
        """A database node (primary, replica or extra primary) of the primary's size:
        its cores (at most its connections), the rest of the connections to queue."""
        p = self.spec.primary
        cores = min(p.cores, p.connections)
        kind = Instance if self.waits is None else WaitingInstance
        inst = kind(
            self,
            name,
            index,
            self.ctx.new_uid(),
            cores,
            stretch_table(cores, 1.0, 0.0, 0.0),
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
        v.t0 = now = self.env._now
        self.q_in += 1  # queries present: their time integral (Counters.present)
        self.q_base -= now
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
            if status == OK:
                self.lat_append(now - v.t0)
            self.q_in -= 1
            self.q_base += now
            v.parent.resume(status)
            return
        if req.is_read:
            if status == OK:
                self.lat_append(now - v.t0)
            if status == OK and v.node >= 0:
                _, stale = repl.read(v.node, req.key, now)
                if now >= self.ctx.warmup:
                    self.replica_reads += 1
                    self.stale_reads += stale
            self.q_in -= 1
            self.q_base += now
            v.parent.resume(status)
            return
        if status != OK:
            self.q_in -= 1
            self.q_base += now
            v.parent.resume(status)
            return
        lag = self.lag
        lags = [lag() for _ in self.replicas]
        _, wait = repl.write(req.key, now, lags)
        for x in lags:
            self.w_lag_sum += x
            if x > self.w_lag_max:
                self.w_lag_max = x
        self.w_lag_count += len(lags)
        if now >= self.ctx.warmup:
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
                heappush(q, (now + x, NORMAL, next(eid), fire_entry, a))
        if self.reads_to == "read_your_writes":
            self.ryw.wrote(req.client, now + max(lags))
        if wait > 0:
            heappush(q, (now + wait, NORMAL, next(eid), _fire_ack, v))
        else:
            self.lat_append(now - v.t0)
            self.q_in -= 1
            self.q_base += now
            v.parent.resume(OK)

    def _multi_write(self, req: Any, home: int, now: float) -> None:
        """Last writer wins across primaries: count the conflict, and apply the
        write on every other primary ``sync_ms`` later."""
        assert self.multi is not None
        if self.multi.write(req.key, home, now) and now >= self.ctx.warmup:
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
                    (now + self.sync_s, NORMAL, next(env._eid), fire_entry, a),
                )

    def primary_fault(self, down: bool) -> None:
        """The primary dies (or comes back). With ``failover`` and replicas: the
        writes the most up-to-date replica had not received are lost now, writes
        fail for ``detect_s + promote_s``, then that replica becomes the primary."""
        primary = self.primary
        was_up = primary.up
        if not down:
            primary.come_up()
            if primary.up and not was_up:
                self.ctx.event(
                    "primary_up",
                    self.id,
                    _primary(primary.name) + " back up",
                    instance=primary.name,
                )
            return
        primary.go_down()
        if was_up:
            self.ctx.event(
                "primary_down",
                self.id,
                _primary(primary.name) + " down",
                instance=primary.name,
            )
        fo = self.spec.failover
        if fo is None or self.repl is None or self.promoted is not None:
            return
        now = self.env.now
        result = self.repl.fail_primary(now)
        if now >= self.ctx.warmup:
            self.lost_writes += result.lost_writes
        if result.promoted is None:
            return
        slot = result.promoted
        self.readable[slot] = False  # it stops serving reads as a replica
        candidate = self.replicas[slot].name
        lost = (
            f", {plural(result.lost_writes, 'write')} lost"
            if result.lost_writes
            else ""
        )
        self.ctx.event(
            "failover_started",
            self.id,
            f"failover: promoting {candidate} in {fo.detect_s + fo.promote_s:g} s"
            f"{lost}",
            promoted=candidate,
            writes_lost=result.lost_writes,
        )
        ev = self.env.timeout(fo.detect_s + fo.promote_s)
        ev.callbacks.append(lambda _e: self._promote(slot))

    def _promote(self, slot: int) -> None:
        inst = self.replicas[slot]
        self.primary = inst
        self.promoted = inst.name
        self.ctx.event(
            "failover_done",
            self.id,
            f"{inst.name} is the primary now",
            promoted=inst.name,
        )

    def apply_fault(self, fault: Fault, down: bool) -> None:
        """``primary`` (the default) or ``replica-N``; ``shard-0`` of a database
        with one shard is its primary (the document refuses other nodes)."""
        node = "primary" if fault.node is None else str(fault.node)
        if node in ("primary", "shard-0"):
            self.primary_fault(down)
        else:
            self.node_fault(node, down)

    def node_fault(self, name: str, down: bool) -> None:
        """``replica-N`` goes down or comes back (``primary`` is part 1's)."""
        index = int(name.split("-", 1)[1])
        inst = self.replicas[index]
        assert self.repl is not None
        was_up = inst.up
        if down:
            inst.go_down()
            self.repl.replica_down(index)
        else:
            inst.come_up()
            if inst.up:
                self.repl.replica_up(index, self.env.now)
        if inst.up != was_up:
            self.ctx.event(
                "replica_up" if inst.up else "replica_down",
                self.id,
                f"replica {inst.name} {'back up, caught up' if inst.up else 'down'}",
                instance=inst.name,
            )

    def query_area(self, now: float) -> float:
        """Queries present (waiting, served or waiting on replicas), integrated
        over time up to ``now`` (a replicated database; see ``Instance``)."""
        return self.q_base + self.q_in * now

    def present_area(self, now: float, c: Counters) -> float:
        # with replicas or other primaries a node's job may be a write being
        # applied, not a query: count the queries themselves
        return self.query_area(now) if self.needs_keys else c.n

    def start_measuring(self, now: float) -> None:
        super().start_measuring(now)
        self.stale_reads = self.replica_reads = self.conflicts = 0
        for inst in self.instances:
            inst.touch(now)
        self.node_busy0 = [inst.busy_area for inst in self.instances]

    def window(self, now: float, dt: float, measured: bool) -> dict[str, Any]:
        out = super().window(now, dt, measured)
        if self.repl is not None:
            out["replication_lag_ms"] = window_lag([self.take_window_lag()])
        self.prune(now)
        return out

    def take_window_lag(self) -> tuple[float, int, float]:
        """This window's lags drawn (sum, count, max, in seconds), and start anew."""
        got = (self.w_lag_sum, self.w_lag_count, self.w_lag_max)
        self.w_lag_sum = self.w_lag_max = 0.0
        self.w_lag_count = 0
        return got

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
                    "utilization": ratio(inst.busy_area - b0, inst.cores * duration)
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
