"""A service: web or application servers, each instance a station (cores + queue).

Horizontal scaling is ``instances`` (and ``autoscale``), vertical scaling ``cores``
and ``speed``, with the Universal Scalability Law's ``scaling``. A request is served
by one instance, then calls the service's dependencies in order.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

from ..document import ReadWriteWork, Service
from ..variates import duration_sampler
from .calls import BreakerCall, ProbableCall, build_calls
from .eventcalendar import DEAD
from .ps import PsInstance, StatefulPsInstance
from .stations import (
    Instance,
    StatefulInstance,
    StatefulWaitingInstance,
    StationComponent,
    WaitingInstance,
    ratio,
    stretch_table,
)

if TYPE_CHECKING:
    from ..document import Fault
    from .context import RunContext


class ServiceRt(StationComponent):
    type = "service"

    def __init__(self, ctx: RunContext, cid: str, spec: Service) -> None:
        super().__init__(ctx, cid)
        self.spec = spec
        self.needs_clients = spec.stateful  # sessions live on an instance
        rng = ctx.streams.generator()
        if isinstance(spec.work_ms, ReadWriteWork):
            work_read = duration_sampler(spec.work_ms.read, rng)
            work_write = duration_sampler(spec.work_ms.write, rng)
        else:
            work_read = work_write = duration_sampler(spec.work_ms, rng)
        a = spec.scaling.contention if spec.scaling else 0.0
        b = spec.scaling.coherency if spec.scaling else 0.0
        stretch = stretch_table(spec.cores, spec.speed, a, b)
        top = spec.autoscale.max if spec.autoscale else spec.instances
        kind = StatefulInstance if spec.stateful else Instance
        if self.waits is not None:  # simulation.waiting: the counting instances
            kind = StatefulWaitingInstance if spec.stateful else WaitingInstance
        if spec.discipline == "ps":  # processor sharing: its own class (runtime/ps)
            self.sharing = True
            kind = StatefulPsInstance if spec.stateful else PsInstance
        for i in range(max(top, spec.instances)):
            inst = kind(
                self,
                f"{cid}-{i}",
                i,
                ctx.new_uid(),
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
        self.probable: dict[str, ProbableCall] = {}
        self.breakers: dict[str, BreakerCall] = {}
        self.active_changed()

    def link(self, ctx: RunContext) -> None:
        spec = self.spec
        if any(not isinstance(c, str) for c in spec.calls):
            # the mapping form (probabilities, breakers): objects of their own
            calls, self.probable, self.breakers = build_calls(
                ctx, self.id, spec.region, spec.calls
            )
            for inst in self.instances:
                inst.calls = calls
            return
        calls = tuple(
            (ctx.components[c], ctx.delay(spec.region, ctx.spec(c).region))
            for c in spec.calls
        )
        for inst in self.instances:
            inst.calls = calls

    def processes(self) -> Iterator[Generator[Any, Any, Any]]:
        if self.spec.autoscale is not None:
            yield self.autoscale_process()

    def apply_fault(self, fault: Fault, down: bool) -> None:
        """Instance ``fault.instance`` (all of them when omitted) dies or returns."""
        targets = (
            self.instances
            if fault.instance is None
            else [self.instances[fault.instance]]
        )
        for inst in targets:
            was_up = inst.up
            if down:
                inst.go_down()
            else:
                inst.come_up()
            if inst.up != was_up:
                kind = "instance_up" if inst.up else "instance_down"
                state = "back up" if inst.up else "down"
                self.ctx.event(
                    kind, self.id, f"{inst.name} {state}", instance=inst.name
                )

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

    def start_measuring(self, now: float) -> None:
        super().start_measuring(now)
        for wrapper in (*self.probable.values(), *self.breakers.values()):
            wrapper.start_measuring(now)

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
        if self.probable:
            out["call_shares"] = {to: c.report() for to, c in self.probable.items()}
        if self.breakers:
            out["breakers"] = {to: b.report(end) for to, b in self.breakers.items()}
        return out

    def autoscale_process(self) -> Iterator[Any]:
        spec = self.spec.autoscale
        assert spec is not None
        env = self.env
        last_change = -math.inf
        prev = self.cumulative(env.now)
        while True:
            yield env.timeout(spec.check_s)
            now = env.now
            cur = self.cumulative(now)
            util = ratio(cur.busy - prev.busy, cur.cap - prev.cap)
            if util > 0.95 and cur.cap > prev.cap:
                # saturated: utilization cannot say by how much, so count the
                # waiting requests as demand too (capped at twice the capacity)
                util = min(max(util, (cur.n - prev.n) / (cur.cap - prev.cap)), 2.0)
            prev = cur
            current = len(self.active)
            planned = current + self.booting
            desired = math.ceil(current * util / spec.target_utilization - 1e-9)
            desired = min(max(desired, spec.min), spec.max)
            if now - last_change < spec.cooldown_s:
                continue
            if desired > planned:
                spare = [
                    i
                    for i in self.instances
                    if not i.active and not getattr(i, "_booting", False)
                ]
                for inst in spare[: desired - planned]:
                    self.booting += 1
                    ev = env.timeout(spec.boot_s)
                    ev.callbacks.append(lambda _e, inst=inst: self._booted(inst))
                last_change = now
            elif desired < current and self.booting == 0:
                for inst in list(reversed(self.active))[: current - desired]:
                    self.set_active(inst, False)
                last_change = now
                self._scaled(f"scaled in to {len(self.active)} instances")

    def _booted(self, inst: Instance) -> None:
        self.booting -= 1
        inst.epoch += 1
        self.set_active(inst, True)
        self._scaled(f"scaled out to {len(self.active)} instances ({inst.name} booted)")

    def _scaled(self, text: str) -> None:
        self.ctx.event("autoscaled", self.id, text, instances=len(self.active))
