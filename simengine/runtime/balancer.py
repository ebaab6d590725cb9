"""A load balancer: one of the balancing strategies (``simengine.balancing``) over
the instances of its target services, health checks, retries, layer-7 overhead."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from heapq import heappush
from typing import TYPE_CHECKING, Any

from ..balancing import STRATEGIES
from ..document import LoadBalancer
from ..snapshot import UTILIZATION_NOTES
from ..variates import uniform_sampler
from .component import Component
from .context import plural
from .eventcalendar import DEAD, ERROR, NORMAL, fire_pending

if TYPE_CHECKING:
    from ..document import Fault
    from .context import RunContext
    from .service import ServiceRt
    from .stations import Instance


class LbVisit:
    """A request at a balancer: sent to an instance, maybe retried elsewhere."""

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


def _constant_latency(ms: float) -> dict[str, float]:
    return {k: ms for k in ("mean", "p50", "p90", "p95", "p99", "max")}


class Balancer(Component):
    type = "load_balancer"

    def __init__(self, ctx: RunContext, cid: str, spec: LoadBalancer) -> None:
        self.ctx = ctx
        self.env = ctx.env
        self.needs_clients = spec.algorithm == "ip_hash"
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

    def link(self, ctx: RunContext) -> None:
        targets = [ctx.components[t] for t in self.spec.targets]
        for t in targets:
            self.delay_to[t.id] = ctx.delay(self.spec.region, ctx.spec(t.id).region)
        self._link_targets(targets, uniform_sampler(ctx.streams.generator()))  # type: ignore[arg-type]

    def _link_targets(
        self, targets: list[ServiceRt], uniform: Callable[[], float]
    ) -> None:
        self.targets = targets
        n = self.ctx.uid_count
        self.active = [0] * n
        self.sent = [0] * n
        self.sent_prev = [0] * n
        self.sent_measured = [0] * n
        weights = dict(self.spec.weights or {})
        for t in targets:
            weights.setdefault(t.id, t.spec.cores * t.spec.speed)
        self.strategy = STRATEGIES[self.spec.algorithm](self.active, uniform, weights)
        if self.spec.algorithm == "power_of_d":
            self.strategy.d = self.spec.d or 3
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
                (env._now + self.overhead, NORMAL, next(env._eid), self._fwd, v),
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
                (env._now + delay, NORMAL, next(env._eid), fire_pending, v),
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
            if ok:
                self.ctx.event(
                    "health_restored",
                    self.id,
                    f"{inst.name} back in rotation "
                    f"({plural(hc.healthy_after, 'check')} passed)",
                    instance=inst.name,
                )
            else:
                self.ctx.event(
                    "health_removed",
                    self.id,
                    f"{inst.name} out of rotation "
                    f"({plural(hc.unhealthy_after, 'check')} failed)",
                    instance=inst.name,
                )

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

    def processes(self) -> Iterator[Generator[Any, Any, Any]]:
        if self.spec.health_check is not None:
            yield self.health_process()

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
            "utilization": None,  # no capacity of its own in this model
            "throughput_rps": d[0] / dt if dt > 0 else 0.0,
            "errors_rps": d[1] / dt if dt > 0 else 0.0,
        }

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
            "utilization": None,  # no capacity of its own in this model
            "utilization_note": UTILIZATION_NOTES["load_balancer"],
            "throughput_rps": self.total[0] / duration,
            "queue_mean": 0.0,
            "latency_ms": _constant_latency(self.overhead * 1000.0),
            "share": share,
            "errors": self.total[1],
            "retries": self.total[2],
            "instances": self.spec.instances,
        }

    def apply_fault(self, fault: Fault, down: bool) -> None:
        """Balancer instance ``fault.instance`` (all when omitted) dies or returns."""
        self.lb_fault(fault.instance, down)

    def lb_fault(self, index: int | None, down: bool) -> None:
        indexes = range(self.spec.instances) if index is None else [index]
        for i in indexes:
            was_up = self.lb_up[i]
            if down:
                self.lb_down_count[i] += 1
                self.lb_up[i] = False
            else:
                self.lb_down_count[i] = max(0, self.lb_down_count[i] - 1)
                self.lb_up[i] = self.lb_down_count[i] == 0
            if self.lb_up[i] != was_up:
                name = f"{self.id}-{i}"
                state = "back up" if self.lb_up[i] else "down"
                self.ctx.event(
                    "instance_up" if self.lb_up[i] else "instance_down",
                    self.id,
                    f"{name} {state}",
                    instance=name,
                )
        self.up_instances = sum(self.lb_up)
