"""A CDN: an edge cache with one node per client region it serves.

The clients of a served region reach their own region's node (the CDN has no region
of its own, so no cross-region latency on the way in): a read of a key the node holds
answers after ``hit_ms``; a miss goes to ``origin``, paying the network delay from
the client's region to the origin's as a call to the origin would, and fills the
node. Writes and the clients of regions the CDN does not serve go to the origin the
same way, without the cache. Each node is a key cache of ``capacity_keys`` (LRU,
``ttl_s``) from ``simengine.datatier``.
"""

from __future__ import annotations

from heapq import heappush
from typing import TYPE_CHECKING, Any

from ..datatier.keycache import LruCache
from ..document import Cdn
from ..metrics import LatencyStats
from ..snapshot import UTILIZATION_NOTES
from ..variates import duration_sampler
from .cache import hit_window
from .component import Component
from .eventcalendar import NORMAL, OK, fire_pending
from .stations import ratio

if TYPE_CHECKING:
    from ..document import Fault
    from .context import RunContext


class CdnVisit:
    """A request at the CDN: waiting out its hit time, or its call to the origin."""

    __slots__ = ("node", "parent", "pending", "req", "rt", "t0")

    def resume(self, status: int) -> None:
        """The origin answered a miss, a write or an unserved region's request."""
        self.rt.origin_done(self, status)


class CdnRt(Component):
    type = "cdn"
    needs_clients = True  # the client's region picks the node
    needs_keys = True

    def __init__(self, ctx: RunContext, cid: str, spec: Cdn) -> None:
        self.ctx = ctx
        self.env = ctx.env
        self.id = cid
        self.spec = spec
        self.hit_time = duration_sampler(spec.hit_ms, ctx.streams.generator())
        self.caches = [LruCache(spec.capacity_keys, spec.ttl_s) for _ in spec.regions]
        wl = ctx.doc.workload
        regions = wl.regions or {}
        # client c is in the first region whose bound exceeds c (as ``Source``)
        self.region_names = list(regions)
        self.bounds: list[int] = []
        acc = 0.0
        for i, name in enumerate(self.region_names):
            acc += regions[name]
            last = i == len(self.region_names) - 1
            self.bounds.append(wl.clients if last else round(acc * wl.clients))
        served = {name: k for k, name in enumerate(spec.regions)}
        self.node_of = [served.get(name, -1) for name in self.region_names]
        self.origin: Any = None
        self.delay_of: list[float] = []  # client region -> origin, s
        self.saved_per_hit: list[float] = []  # node -> cross-region ms a hit saves
        self.lat = LatencyStats()
        self.lat_append = self.lat.values.append
        self.count = self.prev = self.total = 0
        self.prev_hits = self.prev_misses = 0
        self.writes = self.unserved = 0
        self._hit_cb = self._hit_done

    def link(self, ctx: RunContext) -> None:
        self.origin = ctx.components[self.spec.origin]
        origin_region = ctx.spec(self.spec.origin).region
        self.delay_of = [ctx.delay(name, origin_region) for name in self.region_names]
        net = ctx.doc.network
        self.saved_per_hit = [
            net.cross_region_ms
            if origin_region is not None and name != origin_region
            else 0.0
            for name in self.spec.regions
        ]

    # --- requests ---------------------------------------------------------------------
    def call(self, req: Any, parent: Any) -> None:
        env = self.env
        now = env._now
        self.count += 1
        client = req.client
        region = 0
        for bound in self.bounds:
            if client < bound:
                break
            region += 1
        node = self.node_of[region]
        v = CdnVisit()
        v.rt = self
        v.req = req
        v.parent = parent
        v.t0 = now
        v.node = node
        if node >= 0 and req.is_read:
            if self.caches[node].get(req.key, now) is not None:
                heappush(
                    env._queue,
                    (now + self.hit_time(), NORMAL, next(env._eid), self._hit_cb, v),
                )
                return
        else:
            v.node = -1  # nothing to fill
            if node < 0:
                self.unserved += 1
            else:
                self.writes += 1
        delay = self.delay_of[region]
        if delay:
            v.pending = self.origin
            heappush(env._queue, (now + delay, NORMAL, next(env._eid), fire_pending, v))
        else:
            self.origin.call(req, v)

    def _hit_done(self, v: CdnVisit) -> None:
        self.lat_append(self.env._now - v.t0)
        v.parent.resume(OK)

    def origin_done(self, v: CdnVisit, status: int) -> None:
        now = self.env._now
        if status == OK and v.node >= 0:
            self.caches[v.node].put(v.req.key, 0, now)  # the miss fills the node
        self.lat_append(now - v.t0)
        v.parent.resume(status)

    def apply_fault(self, fault: Fault, down: bool) -> None:
        # the document refuses faults on a cdn (checks.faults: no fault check)
        raise ValueError(f"cdn {self.id} takes no faults")

    # --- metrics ----------------------------------------------------------------------
    def _hits_misses(self) -> tuple[int, int]:
        return sum(c.hits for c in self.caches), sum(c.misses for c in self.caches)

    def window(self, now: float, dt: float, measured: bool) -> dict[str, Any]:
        return hit_window(self, dt, measured, *self._hits_misses())

    def start_measuring(self, now: float) -> None:
        for c in self.caches:
            c.reset_counters()
        self.prev_hits = self.prev_misses = 0
        self.writes = self.unserved = 0

    def report(self, duration: float, end: float) -> dict[str, Any]:
        hits, misses = self._hits_misses()
        regions = {}
        for k, name in enumerate(self.spec.regions):
            c = self.caches[k]
            regions[name] = {
                "hit_ratio": ratio(c.hits, c.hits + c.misses),
                "hits": c.hits,
                "misses": c.misses,
                "saved_ms": c.hits * self.saved_per_hit[k],
                "evictions": c.evictions,
                "expirations": c.expirations,
            }
        return {
            "type": "cdn",
            "utilization": None,  # no capacity of its own in this model
            "utilization_note": UTILIZATION_NOTES["cdn"],
            "throughput_rps": self.total / duration if duration > 0 else 0.0,
            "queue_mean": 0.0,
            "latency_ms": self.lat.summary_ms(),
            "hit_ratio": ratio(hits, hits + misses),
            "hits": hits,
            "misses": misses,
            "saved_ms": sum(r["saved_ms"] for r in regions.values()),
            "writes": self.writes,
            "unserved": self.unserved,
            "regions": regions,
        }
