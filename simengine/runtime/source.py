"""The clients: arrivals at a (changing) rate, each request with its client, key and
read/write mix, and the client's side of a request (its outcome and timeout)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator
from heapq import heappush
from itertools import repeat
from typing import TYPE_CHECKING, Any

from ..document import Bursty, Document, Keys
from ..metrics import LatencyStats
from ..variates import (
    duration_sampler,
    integer_sampler,
    scaled_exponential_sampler,
    uniform_sampler,
    zipf_keys,
)
from .edge import has_rate_limit, limited_resume
from .eventcalendar import NORMAL, OK, REJECTED, fire_entry

if TYPE_CHECKING:
    from .context import RunContext


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


class WarmupRequest(ClientRequest):
    """A request that arrived in the warm-up: counted only if it also ends there.

    The report counts the requests that arrived in the measured window (so
    completed + errors + timeouts + rejected + in flight = offered); the source
    switches to the plain classes when the warm-up ends, so the hot path pays
    nothing for the distinction.
    """

    __slots__ = ()

    def resume(self, status: int) -> None:
        src = self.src
        if src.env._now < src.measure_from:
            ClientRequest.resume(self, status)


class WarmupTimedRequest(TimedRequest):
    """:class:`WarmupRequest` for a client with a timeout."""

    __slots__ = ()

    def resume(self, status: int) -> None:
        src = self.src
        if src.env._now < src.measure_from:
            TimedRequest.resume(self, status)
        else:
            self.done = True  # ended after the warm-up: nobody counts it


class Source:
    """Clients: arrivals at a (changing) rate, each request with client, key, mix."""

    def __init__(self, ctx: RunContext, doc: Document) -> None:
        self.ctx = ctx
        self.env = ctx.env
        wl = doc.workload
        self.wl = wl
        # a renewal process (workload.arrivals as a mapping): gaps of mean 1/rate
        self.renewal = None if isinstance(wl.arrivals, str) else wl.arrivals
        self.kind = "constant" if wl.arrivals == "constant" else "poisson"
        self.constant = self.kind == "constant"
        self._q = ctx.env._queue
        self._eid = ctx.env._eid
        self.gap_rng = ctx.streams.generator()
        self.gap: Callable[[], float] = repeat(0.0).__next__
        # the next arrival is not on the calendar: the driver compares its time with
        # the calendar's first entry (one heap push and pop fewer per request)
        self.next_t = math.inf
        base = TimedRequest if wl.timeout_ms else ClientRequest
        warm = WarmupTimedRequest if wl.timeout_ms else WarmupRequest
        # a balancer's rate limit answers 429s, counted apart (runtime.edge); the
        # resume that counts them is chosen here, so other runs never see it
        self.rate_limits = has_rate_limit(doc)
        self.w_rate_limited = 0
        # workload.retry: attempts, timeouts and counts live in runtime/retry.py
        self.retrying: Any = None
        if wl.retry is not None:
            from .retry import RetryRequest

            base = warm = RetryRequest
        # ``src`` is a class attribute of a per-run subclass: no store per request
        self.measured_class = type(base.__name__, (base,), self._namespace(base))
        self.measure_from = ctx.warmup
        self.req_class = (
            type(warm.__name__, (warm,), self._namespace(warm))
            if ctx.warmup > 0
            else self.measured_class
        )
        self.mixed = 0.0 < wl.read_ratio < 1.0
        self.all_reads = wl.read_ratio >= 1.0
        self.uniform = uniform_sampler(ctx.streams.generator())
        self.client_of = integer_sampler(ctx.streams.generator(), wl.clients)
        keys_rng = ctx.streams.generator()
        self.key_of: Callable[[], int] | None = None
        if wl.keys is not None:
            self.key_of = zipf_keys(
                keys_rng, wl.keys.count, wl.keys.zipf_s, wl.keys.shuffle
            )
        self.read_ratio = wl.read_ratio
        self.timeout_s = wl.timeout_ms / 1000.0 if wl.timeout_ms else math.inf
        self.sweep: deque[ClientRequest] | None = (
            deque() if wl.timeout_ms and wl.retry is None else None
        )
        self.entry: Any = None
        self.delay = 0.0
        self.region_bounds: list[tuple[int, float]] = []
        self.rate = 0.0  # the document's rate now (phases, bursts)
        self.spike = 1.0  # injected spikes multiply it (simengine.whatif)
        self.lat = LatencyStats()
        self.lat_append = self.lat.values.append
        self.plain = False  # no mix, clients, keys, timeouts or regions to draw
        self.need_clients = True
        self.w_offered = self.w_errors = 0
        self.w_timeouts = self.w_rejected = 0

    def _namespace(self, base: type) -> dict[str, Any]:
        """The per-run request class's attributes: its source, and with rate
        limits the resume that counts 429s."""
        ns: dict[str, Any] = {"__slots__": (), "src": self}
        if self.rate_limits:
            ns["resume"] = limited_resume(base)
        return ns

    def set_rate(self, rate: float) -> None:
        """Change the arrival rate now (memoryless: the next gap is drawn afresh)."""
        self.rate = rate
        if self.spike != 1.0:
            rate *= self.spike
        if rate <= 0:
            self.next_t = math.inf
            return
        if self.constant:
            self.gap = repeat(1.0 / rate).__next__
        elif self.renewal is not None:
            self.gap = duration_sampler(
                self.renewal.distribution(1000.0 / rate), self.gap_rng
            )
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
                    self._q, (now + delay, NORMAL, next(self._eid), fire_entry, req)
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
            heappush(self._q, (now + delay, NORMAL, next(self._eid), fire_entry, req))
        else:
            self.entry.call(req, req)

    def start_measuring(self, now: float) -> None:
        """The warm-up ends: requests arriving from now on are the measured ones."""
        self.req_class = self.measured_class

    def sweep_timeouts(self, now: float) -> None:
        """Count as timeouts the requests whose deadline has passed (the client gave
        up then, whatever the servers still do with them). Past the warm-up, only
        requests that arrived after it count."""
        sweep = self.sweep
        if sweep is None:
            return
        limit = now - self.timeout_s
        counts_warmup = now <= self.measure_from
        while sweep:
            req = sweep[0]
            if req.done:
                sweep.popleft()
            elif req.t0 < limit:
                sweep.popleft()
                req.done = True
                if counts_warmup or req.t0 >= self.measure_from:
                    self.w_timeouts += 1
            else:
                break

    def link(self, ctx: RunContext) -> None:
        """Where requests enter and what they must carry, once every component is
        built (the components say whether they need clients and keys)."""
        doc = ctx.doc
        comps = ctx.components
        wl = doc.workload
        self.need_clients = bool(wl.regions) or any(
            rt.needs_clients for rt in comps.values()
        )
        self.entry = comps[wl.target]
        entry_region = ctx.spec(wl.target).region
        self.delay = ctx.delay(None, None)
        if wl.regions:
            acc = 0.0
            bounds = []
            names = list(wl.regions)
            for i, name in enumerate(names):
                acc += wl.regions[name]
                bound = wl.clients if i == len(names) - 1 else round(acc * wl.clients)
                bounds.append((bound, ctx.delay(name, entry_region)))
            if len({d for _, d in bounds}) > 1:
                self.region_bounds = bounds
            else:
                self.delay = bounds[0][1]
        if self.key_of is None and any(rt.needs_keys for rt in comps.values()):
            # every request names a key (default: 1M uniform keys, format 1)
            default = Keys()
            self.key_of = zipf_keys(
                ctx.streams.generator(), default.count, default.zipf_s
            )
        self.plain = not (
            self.mixed
            or self.need_clients
            or self.key_of is not None
            or self.sweep is not None
            or self.region_bounds
        )
        if wl.retry is not None:
            from .retry import RetryClient

            self.retrying = RetryClient(self, ctx, self.entry, wl.retry)
            self.entry = self.retrying

    def rates_process(self, horizon: float) -> Iterator[Any]:
        """Set the arrival rate at every change before ``horizon``."""
        env = self.env
        phases = {p.at_s: p for p in self.wl.phases}
        for t, rate in self.rate_changes(horizon):
            if t >= horizon:
                return
            if t > env.now:
                yield env.timeout(t - env.now)
            self.set_rate(rate)
            phase = phases.pop(t, None)
            if phase is not None:
                self.ctx.event(
                    "phase_changed",
                    None,
                    f"workload phase: {phase.rps:g} req/s",
                    rps=phase.rps,
                )

    def rate_changes(self, horizon: float) -> Iterator[tuple[float, float]]:
        """(time, rate) changes: phases, multiplied by the bursty on/off pattern."""
        wl = self.wl
        phases = [(0.0, wl.rps)] + [(p.at_s, p.rps) for p in wl.phases]
        if wl.arrivals != "bursty":
            yield from phases
            return
        b = wl.bursty
        if b is None:
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
