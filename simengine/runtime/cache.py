"""A cache in front of a backing store: strategies, eviction, TTL, invalidation,
nodes by consistent hashing, coalesced misses and write-behind (``datatier``)."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from heapq import heappush
from typing import TYPE_CHECKING, Any

from ..datatier import CacheNodes, MissCoalescer, WriteBehind
from ..document import Cache
from ..metrics import LatencyStats
from ..snapshot import UTILIZATION_NOTES
from ..variates import duration_sampler
from .component import Component
from .context import plural
from .eventcalendar import NORMAL, OK, fire_pending
from .stations import ratio

if TYPE_CHECKING:
    from ..document import Fault
    from .context import RunContext


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


def hit_window(
    rt: Any, dt: float, measured: bool, hits: int, misses: int
) -> dict[str, Any]:
    """The window of a component that answers hits itself (a cache, a CDN): its
    requests and hit ratio since the last window (``rt`` keeps ``count``, ``prev``,
    ``total``, ``lat``, ``prev_hits`` and ``prev_misses``)."""
    d = rt.count - rt.prev
    rt.prev = rt.count
    if measured:
        rt.total += d
    rt.lat.close_window(measured)
    dh, dm = hits - rt.prev_hits, misses - rt.prev_misses
    rt.prev_hits, rt.prev_misses = hits, misses
    return {
        "utilization": None,  # no capacity of its own in this model
        "throughput_rps": d / dt if dt > 0 else 0.0,
        "hit_ratio": ratio(dh, dh + dm),
    }


class CacheRt(Component):
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

    needs_keys = True

    def __init__(self, ctx: RunContext, cid: str, spec: Cache) -> None:
        self.ctx = ctx
        self.env = ctx.env
        self.id = cid
        self.spec = spec
        self.backing: Any = None
        self.delay = 0.0
        rng = ctx.streams.generator()
        self.hit_time = duration_sampler(spec.hit_ms, rng)
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
                    (now + self.hit_time(), NORMAL, next(env._eid), self._hit_cb, v),
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
                (now + self.hit_time(), NORMAL, next(env._eid), self._hit_cb, v),
            )
            return
        self._to_backing(v)

    def _to_backing(self, v: CacheVisit) -> None:
        if self.delay:
            v.pending = self.backing
            env = self.env
            heappush(
                env._queue,
                (env._now + self.delay, NORMAL, next(env._eid), fire_pending, v),
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

    def link(self, ctx: RunContext) -> None:
        self.backing = ctx.components[self.spec.backing]
        self.delay = ctx.delay(self.spec.region, ctx.spec(self.spec.backing).region)

    def processes(self) -> Iterator[Generator[Any, Any, Any]]:
        if self.write_behind is not None:
            yield self.flush_process()

    def apply_fault(self, fault: Fault, down: bool) -> None:
        """Cache node ``fault.node`` (node 0 when omitted) is lost or returns."""
        self.node_fault(0 if fault.node is None else int(fault.node), down)

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
        name = f"{self.id}-{node}"
        if down:
            self.nodes.fail(node)
            lost = 0
            if self.write_behind is not None:
                lost = self.write_behind.fail(node)
                if self.env.now >= self.ctx.warmup:
                    self.lost_writes += lost
            extra = f", {plural(lost, 'unflushed write')} lost" if lost else ""
            self.ctx.event(
                "cache_node_lost",
                self.id,
                f"{name} lost with its keys{extra}",
                instance=name,
                writes_lost=lost,
            )
        else:
            self.nodes.recover(node)
            self.ctx.event(
                "cache_node_restored", self.id, f"{name} back, empty", instance=name
            )

    # --- metrics ----------------------------------------------------------------------
    def _counter(self, name: str) -> int:
        return self.nodes.counter(name)

    def window(self, now: float, dt: float, measured: bool) -> dict[str, Any]:
        return hit_window(
            self, dt, measured, self._counter("hits"), self._counter("misses")
        )

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
            "utilization": None,  # no capacity of its own in this model
            "utilization_note": UTILIZATION_NOTES["cache"],
            "throughput_rps": self.total / duration,
            "queue_mean": 0.0,
            "latency_ms": self.lat.summary_ms(),
            "hit_ratio": ratio(hits, hits + misses),
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
