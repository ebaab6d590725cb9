"""A sharded database: several databases (``database.py``), keys routed by a
``simengine.datatier`` shard router; scatter reads, directory lookups, rebalancing."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from heapq import heappush
from typing import TYPE_CHECKING, Any

from ..datatier import keys_moved_fraction, make_router
from ..document import Database, Keys
from ..variates import uniform_sampler
from .context import plural
from .database import DatabaseRt, database_needs_clients, window_lag
from .eventcalendar import NORMAL, OK, Relay, fire_pending
from .stations import Counters, StationComponent, ratio

if TYPE_CHECKING:
    from ..document import Fault
    from .context import RunContext


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

    needs_keys = True

    def __init__(self, ctx: RunContext, cid: str, spec: Database) -> None:
        super().__init__(ctx, cid)
        self.spec = spec
        self.needs_clients = database_needs_clients(spec)
        sh = spec.shards
        assert sh is not None
        wl = ctx.doc.workload
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
        self.w_calls: list[int] = []  # calls per shard at the last window's end
        self.w_busy: dict[int, float] = {}  # busy area per node, the same
        self.born: list[float] = []
        self.busy0: dict[int, float] = {}
        self.measuring_from = 0.0
        self.keys_moved = 0.0
        for _ in range(sh.count):
            self._add_shard()
        self.scatter = wl.scatter_ratio
        self.uniform = (
            uniform_sampler(ctx.streams.generator()) if self.scatter > 0 else None
        )

    def _add_shard(self) -> None:
        s = len(self.shards)
        inner = DatabaseRt(self.ctx, f"{self.id}/shard-{s}", self.spec)
        inner.lat_append = self.lat.values.append  # its queries are this one's
        for inst in inner.instances:
            inst.comp = self
            if self.waits is not None:  # its waits are this one's
                inst.wait_append = self.waits.values.append
            if not inner.needs_keys:  # else the shard times its queries itself
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
                (env._now + self.lookup_s, NORMAL, next(env._eid), fire_pending, r),
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
        self.ctx.event(
            "shard_added",
            self.id,
            f"{plural(sh.rebalance.add, 'shard')} added, now {len(self.shards)}; "
            f"{self.keys_moved:.0%} of the keys moved",
            shards=len(self.shards),
            keys_moved=self.keys_moved,
        )

    def present_area(self, now: float, c: Counters) -> float:
        area = c.n
        for inner in self.shards:
            if inner.needs_keys:  # its nodes' jobs include writes being applied
                area += inner.query_area(now) - sum(i.n_area for i in inner.instances)
        return area

    def processes(self) -> Iterator[Generator[Any, Any, Any]]:
        if self.spec.shards is not None and self.spec.shards.rebalance:
            yield self.rebalance_process()

    def apply_fault(self, fault: Fault, down: bool) -> None:
        self.node_fault(fault.node, down)

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
        calls = self.calls
        prev_calls = self.w_calls
        total = sum(calls) - sum(prev_calls)
        shards = []
        for s, inner in enumerate(self.shards):
            # a shard added in this window counts from when it was born
            span = now - max(self.born[s], now - dt)
            busy = cap = 0.0
            for inst in inner.instances:
                b = inst.busy_area  # brought up to now by the window above
                busy += b - self.w_busy.get(id(inst), 0.0)
                self.w_busy[id(inst)] = b
                cap += inst.cores * span
            done = calls[s] - (prev_calls[s] if s < len(prev_calls) else 0)
            shards.append(
                {"share": ratio(done, total), "utilization": ratio(busy, cap)}
            )
        self.w_calls = list(calls)
        out["shards"] = shards
        if self.shards[0].repl is not None:
            out["replication_lag_ms"] = window_lag(
                [inner.take_window_lag() for inner in self.shards]
            )
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
                nodes[inst.name] = {"utilization": ratio(b, c)}
                busy += b
                cap += c
            shards.append(
                {
                    "utilization": ratio(busy, cap),
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
