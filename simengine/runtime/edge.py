"""Resilience at the edge: a balancer's rate limit (a token bucket, 429) and a
balancer with a capacity of its own (``work_ms`` on ``cores`` per instance).

``registry`` builds an :class:`EdgeBalancer` only for a balancer that sets
``rate_limit`` or ``work_ms``; every other balancer is the plain ``Balancer``, so a
document without them runs exactly the code (and draws exactly the random
numbers) it did before.

- The rate limit is one token bucket shared by all the balancer's instances (a
  global limiter): ``burst`` tokens, full at the start, refilled continuously at
  ``rps`` per second up to ``burst``. A request that finds less than one token is
  answered at once with ``LIMITED`` (429); the client counts it as rejected and
  as rate limited. The bucket is looked at before the balancer's own work, so a
  refused request costs the balancer nothing.
- ``work_ms`` makes each balancer instance a station (``stations.Instance``: a
  FCFS queue in front of ``cores`` cores); requests go round robin over the
  instances that are up, take their work there, then go on as through any
  balancer (layer-7 ``overhead_ms``, the algorithm, retries). A balancer instance
  fault takes its station down (its queue fails, as a service instance's does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..variates import duration_sampler
from .balancer import Balancer
from .eventcalendar import DEAD, ERROR, LIMITED, OK, REJECTED
from .stations import Instance, StationComponent, stretch_table

if TYPE_CHECKING:
    from ..document import Document, Fault, LoadBalancer
    from .context import RunContext

#: Evenly spaced arrivals exactly at the refill rate land a rounding error short
#: of a whole token; this much short still counts as one.
_TOKEN_SLACK = 1e-9


def has_rate_limit(doc: Document) -> bool:
    """Whether any balancer of ``doc`` has a rate limit (the source then counts
    its 429s apart)."""
    return any(
        getattr(c, "rate_limit", None) is not None for c in doc.components.values()
    )


def limited_resume(base: type) -> Any:
    """``base.resume`` for a run with rate limits: a 429 counts as rejected, and as
    rate limited exactly when the base counts it (not after a timeout, not for a
    request of the warm-up)."""
    resume = base.resume

    def resume_limited(self: Any, status: int) -> None:
        if status == LIMITED:
            src = self.src
            before = src.w_rejected
            resume(self, REJECTED)
            src.w_rate_limited += src.w_rejected - before
        else:
            resume(self, status)

    return resume_limited


class TokenBucket:
    """``burst`` tokens, full at the start, refilled at ``rate`` per second."""

    __slots__ = ("burst", "last", "rate", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.last = 0.0

    def take(self, now: float) -> bool:
        """Take a token at ``now`` if there is one."""
        tokens = self.tokens + (now - self.last) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        self.last = now
        if tokens >= 1.0 - _TOKEN_SLACK:
            self.tokens = tokens - 1.0
            return True
        self.tokens = tokens
        return False


class BalancerStation(StationComponent):
    """The balancer's instances as stations: each ``cores`` cores and a FCFS queue
    doing ``work_ms`` per request. Not a component of the run on its own: the
    :class:`EdgeBalancer` owning it calls, faults and measures it."""

    type = "load_balancer"

    def __init__(self, ctx: RunContext, cid: str, spec: LoadBalancer) -> None:
        super().__init__(ctx, cid)
        assert spec.work_ms is not None
        work = duration_sampler(spec.work_ms, ctx.streams.generator())
        cores = spec.cores or 1
        stretch = stretch_table(cores, 1.0, 0.0, 0.0)
        for i in range(spec.instances):
            inst = Instance(
                self,
                f"{cid}-{i}",
                i,
                ctx.new_uid(),
                cores,
                stretch,
                work,
                work,
                None,
                False,
            )
            inst.active = True
            self.instances.append(inst)
            self.active.append(inst)
        self.up = list(self.instances)
        self.next = 0
        self.capacity_changed()

    def call(self, req: Any, parent: Any) -> None:
        """Round robin over the instances that are up."""
        up = self.up
        if not up:
            parent.resume(DEAD)
            return
        i = self.next
        if i >= len(up):
            i = 0
        self.next = i + 1
        up[i].call(req, parent)

    def apply_fault(self, fault: Fault, down: bool) -> None:
        self.set_up(fault.instance, not down)

    def set_up(self, index: int | None, up: bool) -> None:
        """Instance ``index`` (all when None) goes down or comes back."""
        targets = self.instances if index is None else [self.instances[index]]
        for inst in targets:
            if not up and inst.up:
                inst.go_down()
            elif up and not inst.up:
                inst.come_up()
        self.up = [inst for inst in self.instances if inst.up]

    def report(self, duration: float, end: float) -> dict[str, Any]:
        return self.station_report(duration)


class _Gate:
    """A request doing the balancer's own work; forwarded once it is done."""

    __slots__ = ("lb", "parent", "req")

    def resume(self, status: int) -> None:
        lb = self.lb
        if status == OK:
            Balancer.call(lb, self.req, self.parent)
            return
        lb.errors += 1  # its balancer instance died under it
        self.parent.resume(ERROR if status == DEAD else status)


class EdgeBalancer(Balancer):
    """A balancer with a rate limit, a capacity of its own (``work_ms``), or both."""

    def __init__(self, ctx: RunContext, cid: str, spec: LoadBalancer) -> None:
        super().__init__(ctx, cid, spec)
        rl = spec.rate_limit
        self.bucket = TokenBucket(rl.rps, rl.burst) if rl is not None else None
        self.limited = 0
        self.limited_prev = 0
        self.limited_total = 0
        self.station = (
            BalancerStation(ctx, cid, spec) if spec.work_ms is not None else None
        )
        if self.station is not None:
            self.lat = self.station.lat  # spilled by the driver like a service's

    def call(self, req: Any, parent: Any) -> None:
        if self.up_instances:
            bucket = self.bucket
            if bucket is not None and not bucket.take(self.env._now):
                self.limited += 1
                parent.resume(LIMITED)
                return
            station = self.station
            if station is not None:
                gate = _Gate()
                gate.lb = self
                gate.req = req
                gate.parent = parent
                station.call(req, gate)
                return
        Balancer.call(self, req, parent)

    def lb_fault(self, index: int | None, down: bool) -> None:
        super().lb_fault(index, down)
        if self.station is not None:
            for i, up in enumerate(self.lb_up):
                if index is None or i == index:
                    self.station.set_up(i, up)

    def window(self, now: float, dt: float, measured: bool) -> dict[str, Any]:
        out = super().window(now, dt, measured)
        if self.station is not None:
            st = self.station.window(now, dt, measured)
            out["utilization"] = st["utilization"]
            out["queue_mean"] = st["queue_mean"]
        if self.bucket is not None:
            d = self.limited - self.limited_prev
            self.limited_prev = self.limited
            if measured:
                self.limited_total += d
            out["rate_limited_rps"] = d / dt if dt > 0 else 0.0
        return out

    def report(self, duration: float, end: float) -> dict[str, Any]:
        out = super().report(duration, end)
        station = self.station
        if station is not None:
            st = station.station_report(duration)
            del out["utilization_note"]
            overhead_ms = self.overhead * 1000.0
            out.update(
                utilization=st["utilization"],
                queue_mean=st["queue_mean"],
                concurrency_mean=st["concurrency_mean"],
                latency_ms={
                    k: (None if v is None else v + overhead_ms)
                    for k, v in st["latency_ms"].items()
                },
                cores=station.instances[0].cores,
            )
        if self.bucket is not None:
            out["rate_limited"] = self.limited_total
        return out


def balancer_runtime(ctx: RunContext, cid: str, spec: LoadBalancer) -> Balancer:
    """The plain balancer, or the edge one when it limits or works."""
    if spec.rate_limit is not None or spec.work_ms is not None:
        return EdgeBalancer(ctx, cid, spec)
    return Balancer(ctx, cid, spec)
