"""Queueing formulas the engine is checked against (no scipy: written out here)."""

from __future__ import annotations

import math


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits in M/M/c with offered load a = lambda/mu."""
    if a >= c:
        return 1.0
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def mmc_mean_response(lam: float, mu: float, c: int) -> float:
    """Mean time in system (wait + service) of M/M/c."""
    return erlang_c(c, lam / mu) / (c * mu - lam) + 1.0 / mu


def mmc_response_tail(t: float, lam: float, mu: float, c: int) -> float:
    """P(T > t) for the time in system of M/M/c (FCFS)."""
    pw = erlang_c(c, lam / mu)
    theta = c * mu - lam
    if abs(theta - mu) < 1e-12:
        both = (1 + mu * t) * math.exp(-mu * t)
    else:
        both = (theta * math.exp(-mu * t) - mu * math.exp(-theta * t)) / (theta - mu)
    return (1 - pw) * math.exp(-mu * t) + pw * both


def mmc_response_quantile(q: float, lam: float, mu: float, c: int) -> float:
    """The q-quantile of M/M/c time in system, by bisection."""
    lo, hi = 0.0, 1.0 / mu
    while mmc_response_tail(hi, lam, mu, c) > 1 - q:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if mmc_response_tail(mid, lam, mu, c) > 1 - q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def mmck_blocking(lam: float, mu: float, c: int, k: int) -> float:
    """Share of arrivals refused by M/M/c/K (K places in the system)."""
    a = lam / mu
    weights = []
    for n in range(k + 1):
        if n <= c:
            weights.append(a**n / math.factorial(n))
        else:
            weights.append(a**c / math.factorial(c) * (a / c) ** (n - c))
    return weights[-1] / sum(weights)


def usl_capacity(n: int, contention: float, coherency: float) -> float:
    """Universal Scalability Law: relative capacity of n cores."""
    return n / (1 + contention * (n - 1) + coherency * n * (n - 1))


def token_bucket_accepted(lam: float, rate: float, burst: int, m: int = 4000) -> float:
    """Long-run share of Poisson(lam) arrivals a token bucket accepts (burst tokens,
    refilled at rate per second), solved numerically.

    The bucket's deficit x = burst - tokens drains at ``rate`` and jumps by one at
    an accepted arrival, which needs x <= burst - 1: the workload of an M/D/1 queue
    whose arrivals balk when it exceeds burst - 1 tokens. Level crossing (in
    tokens, a = lam / rate): the density is f(x) = a (p0 [x < 1] + integral of f
    over (max(0, x - 1), min(x, burst - 1))), with an atom p0 at 0; by PASTA the
    accepted share is P(x <= burst - 1). Solved on a grid of 1/m token
    (trapezoid rule); burst 1 gives the Erlang loss 1 / (1 + a) exactly.
    """
    a = lam / rate
    tau = burst - 1
    n = burst * m
    h = 1.0 / m
    f = [0.0] * (n + 1)
    big_f = [0.0] * (n + 1)  # integral of f from 0 to x_k
    p0 = 1.0
    f[0] = a * p0
    for k in range(1, n + 1):
        c = p0 if k < m else 0.0
        below = big_f[k - m] if k >= m else 0.0
        if k <= tau * m:
            # f_k = a (c + F_k - F(x_k - 1)), F_k = F_{k-1} + h (f_{k-1} + f_k) / 2
            f[k] = a * (c + big_f[k - 1] + h * f[k - 1] / 2 - below) / (1 - a * h / 2)
        else:
            f[k] = a * (c + big_f[tau * m] - below)
        big_f[k] = big_f[k - 1] + h * (f[k - 1] + f[k]) / 2
    total = p0 + big_f[n]
    return (p0 + big_f[tau * m]) / total
