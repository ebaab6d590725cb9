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
