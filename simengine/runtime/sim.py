"""The driver: builds one replication's components through the registry, links
them, starts their processes and steps the calendar window by window."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any

from ..document import Document
from ..document.models import Fault
from ..errors import BudgetExceeded, Cancelled
from ..snapshot import Window
from .closed import ClosedSource
from .component import Component
from .context import RunContext
from .eventcalendar import URGENT, Boundary, raise_boundary
from .registry import RUNTIMES
from .source import Source

if TYPE_CHECKING:  # simengine.whatif is imported when a run injects (start-up)
    from ..whatif import Feed, Injection

_CHUNK = 16_384  # events between polls of should_stop, the budget and memory spills

#: A window's request counts (requests that arrived in the measured window only,
#: once the warm-up is over): offered, completed, errors, timeouts, rejected.
Counts = dict[str, int]


def _per_s(count: int, dt: float) -> float:
    return count / dt if dt > 0 else 0.0


class Sim:
    """One replication of one document."""

    def __init__(self, doc: Document, seed: int, replication: int) -> None:
        ctx = RunContext(doc, seed, replication)
        self.ctx = ctx
        self.doc = doc
        self.env = ctx.env
        self.warmup = ctx.warmup
        self.duration = ctx.duration
        self.horizon = ctx.horizon
        self.warnings = ctx.warnings
        # built in document order: the random streams are handed out in that order
        for cid, spec in doc.components.items():
            ctx.components[cid] = RUNTIMES[spec.type](ctx, cid, spec)
        self.components: dict[str, Component] = ctx.components
        self.source = (ClosedSource if doc.workload.users else Source)(ctx, doc)
        for rt in self.components.values():
            rt.link(ctx)
        self.source.link(ctx)
        self.events = 0
        self.stopped = False  # set when should_stop ended the run early

    # processes ------------------------------------------------------------------------
    def _fault_process(self, index: int) -> Iterator[Any]:
        fault = self.doc.faults[index]
        rt = self.components[fault.component]
        env = self.env
        yield env.timeout(fault.at_s)
        rt.apply_fault(fault, down=True)
        if fault.for_s is not None:
            yield env.timeout(fault.for_s)
            rt.apply_fault(fault, down=False)

    def inject(self, raw: Injection | Mapping[str, Any]) -> None:
        """Apply a what-if injection now (``simengine.whatif``), logging it first."""
        from ..whatif import injection_parse

        inj = injection_parse(self.doc, raw)
        env = self.env
        self.ctx.event(
            "injected",
            inj.component,
            inj.event_text(),
            injection=inj.model_dump(exclude_none=True),
        )
        if inj.action == "spike":
            env.process(self._spike_process(inj.factor or 1.0, inj.for_s or 0.0))
            return
        rt = self.components[inj.component or ""]
        fault = inj.as_fault(env.now)
        rt.apply_fault(fault, down=inj.action == "fault")
        if inj.action == "fault" and fault.for_s is not None:
            env.process(self._restore_process(rt, fault))

    def _restore_process(self, rt: Component, fault: Fault) -> Iterator[Any]:
        yield self.env.timeout(fault.for_s)
        rt.apply_fault(fault, down=False)

    def _spike_process(self, factor: float, for_s: float) -> Iterator[Any]:
        source = self.source
        source.spike *= factor
        source.set_rate(source.rate)
        yield self.env.timeout(for_s)
        source.spike /= factor
        if abs(source.spike - 1.0) < 1e-12:
            source.spike = 1.0
        source.set_rate(source.rate)
        self.ctx.event(
            "spike_ended", None, f"traffic spike x{factor:g} over", factor=factor
        )

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
        self,
        should_stop: Callable[[], bool] | None,
        budget: int,
        feed: Feed | None = None,
    ) -> Iterator[tuple[Window, Counts, bool]]:
        """Simulate to the horizon, yielding each window as it closes, with its
        request counts and whether it is measured (after the warm-up). The run goes
        on when the caller asks for the next one.

        ``feed`` (``simengine.whatif``) is asked for injections at every boundary,
        after its window is yielded; they apply there. When ``should_stop`` says
        stop, the window under way is closed where the clock stands and yielded
        (``self.stopped`` is then True), and ``Cancelled`` is raised: the caller
        has everything measured up to the moment it stopped."""
        env = self.env
        source = self.source
        env.process(source.rates_process(self.horizon))
        for i in range(len(self.doc.faults)):
            env.process(self._fault_process(i))
        for rt in self.components.values():
            for process in rt.processes():
                env.process(process)
        queue = env._queue
        arrive = source.arrive
        stats = [source.lat] + [
            rt.lat for rt in self.components.values() if rt.lat is not None
        ]
        stats += [rt.waits for rt in self.components.values() if rt.waits is not None]
        t_prev = 0.0
        if self.warmup == 0:
            self._start_measuring(0.0)
        replication = self.ctx.replication
        for boundary in self.boundaries():
            heappush(queue, (boundary, URGENT, next(env._eid), raise_boundary, None))
            i = 0
            try:
                while not self.stopped:
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
                        self.stopped = True  # close the window here, then stop
                        break
                    for s in stats:
                        s.maybe_spill()
            except Boundary:
                self.events += i + 1
                if self.events > budget:
                    raise BudgetExceeded(
                        f"the run took more than {budget} events (Limits.max_events)"
                    ) from None
            now = env.now
            measured = t_prev >= self.warmup - 1e-9
            if self.stopped:
                if now > t_prev:
                    yield (*self._close_window(t_prev, now, measured), measured)
                raise Cancelled("stopped by the caller")
            yield (*self._close_window(t_prev, now, measured), measured)
            if abs(now - self.warmup) < 1e-9 and self.warmup > 0:
                self._start_measuring(now)
            t_prev = now
            if feed is not None and now < self.horizon:
                for raw in feed(replication, now):
                    self.inject(raw)
            if should_stop is not None and should_stop():
                self.stopped = True
                raise Cancelled("stopped by the caller")

    def _start_measuring(self, now: float) -> None:
        self.source.start_measuring(now)
        for rt in self.components.values():
            rt.start_measuring(now)

    def _close_window(
        self, t0: float, t1: float, measured: bool
    ) -> tuple[Window, Counts]:
        src = self.source
        src.sweep_timeouts(t1)
        dt = t1 - t0
        completed = src.lat.window_count()  # one latency per completed request
        p50, p95, p99 = src.lat.close_window(measured, (0.5, 0.95, 0.99))
        counts = {
            "offered": src.w_offered,
            "completed": completed,
            "errors": src.w_errors,
            "timeouts": src.w_timeouts,
            "rejected": src.w_rejected,
        }
        src.w_offered = src.w_errors = 0
        src.w_timeouts = src.w_rejected = 0
        if src.rate_limits:  # 429s: a part of rejected (runtime.edge)
            counts["rate_limited"] = src.w_rate_limited
            src.w_rate_limited = 0
        comps = {
            cid: rt.window(t1, dt, measured) for cid, rt in self.components.items()
        }
        window: Window = {
            "t_s": t1,
            "window_s": dt,
            "rps": _per_s(completed, dt),
            "offered_rps": _per_s(counts["offered"], dt),
            "errors_rps": _per_s(counts["errors"], dt),
            "timeouts_rps": _per_s(counts["timeouts"], dt),
            "rejected_rps": _per_s(counts["rejected"], dt),
            "errors": counts["errors"],
            "timeouts": counts["timeouts"],
            "rejected": counts["rejected"],
            "latency_ms": {
                "p50": None if p50 is None else p50 * 1000.0,
                "p95": None if p95 is None else p95 * 1000.0,
                "p99": None if p99 is None else p99 * 1000.0,
            },
            "components": comps,  # type: ignore[typeddict-item]
        }
        if src.rate_limits:
            window["rate_limited_rps"] = _per_s(counts["rate_limited"], dt)
        if src.retrying is not None:  # workload.retry: re-sends and attempts
            src.retrying.close_window(window, counts, dt)
        return window, counts
