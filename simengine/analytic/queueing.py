"""Queueing formulas and the station the estimate solves (M/G/c, M/M/c/K, USL)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..document import Distribution, as_distribution


def erlang_c(servers: int, offered: float) -> float:
    """Probability that an arrival waits in an M/M/c queue.

    ``offered`` is the load in servers, a = lambda / mu; needs a < c.
    Uses the Erlang B recurrence (stable for thousands of servers).
    """
    if servers < 1:
        raise ValueError("servers must be >= 1")
    if offered <= 0:
        return 0.0
    if offered >= servers:
        return 1.0
    b = 1.0
    for k in range(1, servers + 1):
        b = offered * b / (k + offered * b)
    rho = offered / servers
    return b / (1.0 - rho * (1.0 - b))


def mmc_wait(servers: int, arrival_rate: float, mean_service: float) -> float:
    """Mean time waiting in the queue of an M/M/c station (same unit as the service
    time); ``math.inf`` when the station is saturated."""
    if arrival_rate <= 0:
        return 0.0
    offered = arrival_rate * mean_service
    if offered >= servers:
        return math.inf
    c = erlang_c(servers, offered)
    return c * mean_service / (servers - offered)


def mmck(servers: int, offered: float, capacity: int) -> tuple[float, float]:
    """M/M/c/K: (blocking probability, mean queue length) with ``capacity`` = K, the
    most requests in the station (in service and waiting); ``offered`` = lambda / mu.
    Terms are rescaled as they grow, so large c and K do not overflow."""
    capacity = max(capacity, servers)
    if offered <= 0:
        return 0.0, 0.0
    rho = offered / servers
    term = 1.0
    total = 1.0
    queue_weight = 0.0  # sum of (n - c) * term over n > c
    last = 1.0
    for n in range(1, capacity + 1):
        term *= offered / n if n <= servers else rho
        total += term
        if n > servers:
            queue_weight += (n - servers) * term
        if total > 1e250:
            term /= 1e250
            total /= 1e250
            queue_weight /= 1e250
        last = term
    return last / total, queue_weight / total


def mmck_wait_probability(servers: int, offered: float, capacity: int) -> float:
    """M/M/c/K: the share of accepted arrivals that find every server busy,
    P(c <= n < K) / (1 - P(K)) (PASTA), rescaled as :func:`mmck` is."""
    capacity = max(capacity, servers)
    if offered <= 0:
        return 0.0
    rho = offered / servers
    term = total = 1.0
    busy = 1.0 if servers == 0 else 0.0  # sum of terms with n >= c
    for n in range(1, capacity + 1):
        term *= offered / n if n <= servers else rho
        total += term
        if n >= servers:
            busy += term
        if total > 1e250:
            term /= 1e250
            total /= 1e250
            busy /= 1e250
    accepted = total - term
    return (busy - term) / accepted if accepted > 0 else 1.0


def klb_factor(rho: float, ca2: float, cs2: float) -> float:
    """Kramer and Langenbach-Belz's correction to Allen-Cunneen for arrivals more
    regular than Poisson (ca2 < 1), where the plain (ca2 + cs2) / 2 overstates the
    wait (by 16% for D/M/1 at rho 0.7; 0.03% with it). For burstier arrivals
    (ca2 > 1) plain Allen-Cunneen is kept: against GI/M/1 with H2 gaps of cv 2 at
    rho 0.7 it is 4% high, the correction's other branch 5% low."""
    if not 0.0 < rho < 1.0 or ca2 >= 1.0 or ca2 + cs2 <= 0.0:
        return 1.0
    return math.exp(-2.0 * (1.0 - rho) * (1.0 - ca2) ** 2 / (3.0 * rho * (ca2 + cs2)))


def supermarket_response(rho: float, d: int) -> float:
    """Mean response, in service times, of the best of ``d`` random single-server
    queues at load ``rho`` < 1, in the limit of many servers (Mitzenmacher's
    supermarket model): the share of queues holding at least i jobs is
    rho ** ((d**i - 1) / (d - 1)), their sum is the mean number per queue, and
    Little's law gives the response."""
    present, i = 0.0, 1
    while i < 64:
        share = rho ** ((d**i - 1) / (d - 1))
        present += share
        if share < 1e-12:
            break
        i += 1
    return present / rho if rho > 0 else 1.0


def usl_capacity(n: int, contention: float, coherency: float) -> float:
    """Relative capacity of n servers under the Universal Scalability Law."""
    return n / (1.0 + contention * (n - 1) + coherency * n * (n - 1))


def mean_and_scv(value: Any) -> tuple[float, float]:
    """Mean (ms) and squared coefficient of variation of a duration field."""
    d: Distribution = as_distribution(value)
    return d.mean or 0.0, d.scv


@dataclass
class Station:
    """c servers fed by reads and writes; times in ms, rates per second."""

    servers: int
    read_rps: float = 0.0
    write_rps: float = 0.0
    # Writes a replica applies for its primary: work that occupies its cores (and
    # delays its reads) but that no client request waits for.
    apply_rps: float = 0.0
    read_ms: tuple[float, float] = (0.0, 1.0)  # mean, scv
    write_ms: tuple[float, float] = (0.0, 1.0)
    copies: int = 1  # identical stations sharing the load (instances)
    capacity: int | None = None  # K of M/M/c/K: most requests in one copy at once
    wait_ms: float = 0.0
    utilization: float = 0.0  # carried: busy core-time over available core-time
    offered_utilization: float = 0.0  # before refusals; > 1 when overloaded
    blocking: float = 0.0  # share of arrivals refused (M/M/c/K)
    # How a balancer shares the load among the copies: None, random (each copy an
    # M/G/c of its share); ("pooled", _): least connections or response time, close
    # to one queue in front of every core (M/G/(copies x c)); ("jsq_2" | "jsq_d", d):
    # the best of d random choices, by the supermarket model's mean field
    # (single-core copies; several cores: as random).
    dispatch: tuple[str, int] | None = None
    # "fcfs": one queue in front of the cores; "ps": processor sharing, a symmetric
    # queue whose mean response and P(n >= c) do not depend on the service
    # distribution (Poisson arrivals): the M/M/c (or M/M/c/K) values, exactly.
    discipline: str = "fcfs"
    # Squared cv of the arrivals' gaps (1: Poisson); a renewal workload sets it at
    # the station the clients call directly (Allen-Cunneen's (ca^2 + cs^2) / 2).
    arrival_scv: float = 1.0
    # Share of (accepted) arrivals that find every core busy: Erlang C (M/M/c),
    # M/M/c/K with a limit, rho**d for the supermarket model; exact for M/G/1 and
    # any PS station, an approximation for M/G/c FCFS. None: not available
    # (arrivals that are not Poisson).
    wait_probability: float | None = 0.0

    def solve(self) -> None:
        total = self.read_rps + self.write_rps + self.apply_rps
        lam = total / self.copies
        if lam <= 0:
            self.wait_ms = 0.0
            self.utilization = self.offered_utilization = 0.0
            self.wait_probability = 0.0
            return
        pr = self.read_rps / total
        (mr, vr), (mw, vw) = self.read_ms, self.write_ms
        mean = pr * mr + (1 - pr) * mw
        second = pr * (vr + 1) * mr * mr + (1 - pr) * (vw + 1) * mw * mw
        self.utilization = lam * mean / 1000.0 / self.servers
        self.offered_utilization = self.utilization
        if mean <= 1e-9:  # no work to speak of (and no overflow in its square)
            self.wait_ms = 0.0
            self.wait_probability = 0.0
            return
        scv = second / (mean * mean) - 1.0
        if self.capacity is not None:
            # A full station refuses arrivals: M/M/c/K, carried load only.
            offered = lam * mean / 1000.0
            self.blocking, queue = mmck(self.servers, offered, self.capacity)
            carried = lam * (1.0 - self.blocking)
            self.utilization = carried * mean / 1000.0 / self.servers
            per_ms = carried / 1000.0  # zero for a vanishing rate (underflow)
            wq = queue / per_ms if per_ms > 0 else 0.0
            self.wait_probability = mmck_wait_probability(
                self.servers, offered, self.capacity
            )
        else:
            wq = self._dispatched_wait(total, lam, mean)
            self.wait_probability = self._dispatched_wait_probability(total, lam, mean)
        if self.arrival_scv != 1.0:
            self.wait_probability = None  # Erlang C needs Poisson arrivals
        if self.discipline == "ps":
            self.wait_ms = wq  # insensitive: the M/M/c value (Poisson arrivals)
            return
        # Allen-Cunneen (Pollaczek-Khinchine for one server with Poisson arrivals)
        self.wait_ms = wq * (self.arrival_scv + scv) / 2.0
        if self.arrival_scv != 1.0:
            self.wait_ms *= klb_factor(self.utilization, self.arrival_scv, scv)

    def _dispatched_wait(self, total: float, lam: float, mean: float) -> float:
        """Mean wait (ms) of an exponential job, as the copies share the load."""
        kind, d = self.dispatch or ("random", 1)
        if self.copies > 1 and kind == "pooled":
            return mmc_wait(self.servers * self.copies, total / 1000.0, mean)
        if self.copies > 1 and kind.startswith("jsq") and self.servers == 1:
            rho = self.utilization
            if rho >= 1.0:
                return math.inf
            d = 2 if kind == "jsq_2" else max(d, 2)
            return supermarket_response(rho, d) * mean - mean
        return mmc_wait(self.servers, lam / 1000.0, mean)  # rate per ms

    def _dispatched_wait_probability(
        self, total: float, lam: float, mean: float
    ) -> float:
        """P(an arrival finds every core of its copy busy), as the copies share."""
        kind, d = self.dispatch or ("random", 1)
        if self.copies > 1 and kind == "pooled":
            return erlang_c(self.servers * self.copies, total * mean / 1000.0)
        if self.copies > 1 and kind.startswith("jsq") and self.servers == 1:
            # supermarket model: the best of d queues is busy with prob. rho**d
            d = 2 if kind == "jsq_2" else max(d, 2)
            return min(self.utilization, 1.0) ** d
        return erlang_c(self.servers, lam * mean / 1000.0)


def token_bucket_on_off_share(
    offered_rps: float,
    rate_rps: float,
    burst: int,
    on_s: float,
    off_s: float,
    factor: float,
) -> float:
    """Share of on/off arrivals (``factor`` x for ``on_s``, then the rate that keeps
    the mean for ``off_s``) a token bucket lets through, at the fluid level: in each
    period min(rate, the period's rate), plus the tokens saved in the quiet period
    spent at the start of the burst (at most ``burst``, what the quiet period
    refilled, and the burst's excess). Ignores the Poisson noise within a period."""
    if offered_rps <= 0:
        return 1.0
    cycle = on_s + off_s
    on_rps = offered_rps * factor
    off_rps = max(0.0, offered_rps * (cycle - factor * on_s) / off_s)
    passed = on_s * min(on_rps, rate_rps) + off_s * min(off_rps, rate_rps)
    saved = min(
        float(burst),
        max(0.0, rate_rps - off_rps) * off_s,
        max(0.0, on_rps - rate_rps) * on_s,
    )
    return min(1.0, (passed + saved) / (offered_rps * cycle))


#: A token bucket's exact solution is worked out up to this burst; beyond it the
#: fluid answer min(1, rps / offered) is within about 1 / (2 x burst) of it.
EXACT_BURST = 1000


def token_bucket_share(offered_rps: float, rate_rps: float, burst: int) -> float:
    """Long-run share of Poisson arrivals a token bucket lets through: ``burst``
    tokens, full at the start, refilled at ``rate_rps``; an arrival takes a token
    or is refused.

    The deficit x = burst - tokens (in tokens) falls at ``rate_rps`` and jumps by
    one at each accepted arrival, which needs x <= burst - 1: the workload of an
    M/D/1 queue whose arrivals balk above burst - 1. With a = offered / rate, the
    level-crossing equation gives the density f(x) = a (p0 [x < 1] + the integral
    of f over (max(0, x - 1), min(x, burst - 1))) beside an atom p0 at 0, and by
    PASTA the share accepted is P(x <= burst - 1). Solved on a grid (trapezoid
    rule, 20,000 points at most: within 1e-3 of the exact value); burst 1 is the
    Erlang loss system, 1 / (1 + a). Above ``EXACT_BURST``: min(1, 1 / a).
    """
    if offered_rps <= 0:
        return 1.0
    a = offered_rps / rate_rps
    if burst == 1:
        return 1.0 / (1.0 + a)
    if burst > EXACT_BURST:
        return min(1.0, 1.0 / a)
    m = max(20, min(4000, 20_000 // burst))  # grid points per token
    h = 1.0 / m
    top = (burst - 1) * m  # the last grid point where an arrival is accepted
    n = burst * m
    dens = [0.0] * (n + 1)
    cum = [0.0] * (n + 1)  # the integral of the density from 0
    atom = 1.0  # p0, before normalising
    dens[0] = a * atom
    for k in range(1, n + 1):
        jump_from = atom if k < m else 0.0
        gone = cum[k - m] if k >= m else 0.0
        if k <= top:  # implicit in dens[k] through the trapezoid's last half step
            dens[k] = (a * (jump_from + cum[k - 1] + h * dens[k - 1] / 2 - gone)) / (
                1 - a * h / 2
            )
        else:
            dens[k] = a * (jump_from + cum[top] - gone)
        cum[k] = cum[k - 1] + h * (dens[k - 1] + dens[k]) / 2
        if cum[k] > 1e200:  # the equation is linear: rescale everything so far
            atom *= 1e-200
            dens = [d * 1e-200 for d in dens]
            cum = [c * 1e-200 for c in cum]
    return min(1.0, (atom + cum[top]) / (atom + cum[n]))
