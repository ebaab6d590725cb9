"""Random variates from a per-run ``numpy.random.Generator``, drawn in blocks.

Every stream is a zero-argument callable returning a Python float (or int). Streams
are independent children of one ``SeedSequence([seed, replication])`` and are created
in a fixed order, so the same document and seed give the same numbers. There is no
module-level random state: concurrent runs in one process never share a generator.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from itertools import chain, count, repeat

import numpy as np

from .document import Distribution

BLOCK = 4096


class Streams:
    """Hands out independent generators for one replication."""

    def __init__(self, seed: int, replication: int) -> None:
        self._seq = np.random.SeedSequence([int(seed), int(replication)])

    def generator(self) -> np.random.Generator:
        (child,) = self._seq.spawn(1)
        return np.random.Generator(np.random.PCG64(child))


def _stream(blocks: Iterator[list]) -> Callable[[], float]:
    # chain.from_iterable(...).__next__ is a C-level call: the per-variate cost is a
    # list iteration step; the numpy work happens once per BLOCK draws.
    return chain.from_iterable(blocks).__next__


def duration_sampler(
    dist: Distribution, rng: np.random.Generator, scale: float = 0.001
) -> Callable[[], float]:
    """Samples of a duration distribution (ms in the document), times ``scale``."""
    mean = (dist.mean or 0.0) * scale
    kind = dist.dist
    if kind == "constant" or mean == 0.0:
        return repeat(mean).__next__
    if kind == "exponential":
        return _stream(rng.exponential(mean, BLOCK).tolist() for _ in count())
    if kind == "uniform":
        return _stream(rng.uniform(0.0, 2.0 * mean, BLOCK).tolist() for _ in count())
    if kind == "lognormal":
        # with the given mean and coefficient of variation
        sigma2 = math.log1p(dist.cv * dist.cv)
        mu = math.log(mean) - sigma2 / 2.0
        sigma = math.sqrt(sigma2)
        return _stream(rng.lognormal(mu, sigma, BLOCK).tolist() for _ in count())
    if kind == "erlang":  # k exponential phases of mean/k each
        k = dist.k or 1
        return _stream(rng.gamma(k, mean / k, BLOCK).tolist() for _ in count())
    if kind == "hyperexponential":
        return _stream(_h2_blocks(rng, mean, dist.cv))
    if kind == "pareto":  # Pareto I: x_m (1 + Lomax(alpha)), x_m = mean (alpha-1)/alpha
        alpha = dist.alpha or 2.0
        xm = mean * (alpha - 1.0) / alpha
        return _stream(
            (xm * (1.0 + rng.pareto(alpha, BLOCK))).tolist() for _ in count()
        )
    # empirical: the samples, resampled uniformly
    values = np.asarray(dist.samples or [0.0], dtype=np.float64) * scale
    return _stream(rng.choice(values, BLOCK).tolist() for _ in count())


def _h2_blocks(rng: np.random.Generator, mean: float, cv: float) -> Iterator[list]:
    """Two exponential phases with balanced means (p1/mu1 = p2/mu2): the usual
    two-moment fit of a hyperexponential to a mean and a cv > 1."""
    c2 = cv * cv
    p1 = 0.5 * (1.0 + math.sqrt((c2 - 1.0) / (c2 + 1.0)))
    m1, m2 = mean / (2.0 * p1), mean / (2.0 * (1.0 - p1))
    while True:
        first = rng.random(BLOCK) < p1
        yield np.where(
            first, rng.exponential(m1, BLOCK), rng.exponential(m2, BLOCK)
        ).tolist()


def scaled_exponential_sampler(
    rng: np.random.Generator, mean: float
) -> Callable[[], float]:
    """Exponential variates with the given mean."""
    return _stream(rng.exponential(mean, BLOCK).tolist() for _ in count())


def uniform_sampler(rng: np.random.Generator) -> Callable[[], float]:
    """Uniform variates on [0, 1)."""
    return _stream(rng.random(BLOCK).tolist() for _ in count())


def integer_sampler(rng: np.random.Generator, high: int) -> Callable[[], int]:
    """Uniform integers on [0, high)."""
    if high <= 1:
        return repeat(0).__next__
    return _stream(rng.integers(0, high, BLOCK).tolist() for _ in count())


def zipf_keys(
    rng: np.random.Generator, n: int, s: float, shuffle: bool = False
) -> Callable[[], int]:
    """Keys 0..n-1 with P(k) proportional to 1/(k+1)^s, in O(1) memory.

    Rejection-inversion sampling (Hormann and Derflinger, 1996), vectorised over
    blocks; exact for any s >= 0 and any n. ``shuffle`` maps ranks to key numbers
    with a fixed bijection (a*k + b mod n) so popularity is spread over the space.
    """
    if s == 0.0:
        blocks: Iterator[np.ndarray] = (rng.integers(0, n, BLOCK) for _ in count())
    else:
        blocks = _zipf_blocks(rng, n, s)
    if shuffle and n > 2:
        a = _coprime_multiplier(n)
        b = n // 3
        return _stream(((blk * a + b) % n).tolist() for blk in blocks)
    return _stream(blk.tolist() for blk in blocks)


def _coprime_multiplier(n: int) -> int:
    for a in (2_654_435_761, 2_246_822_519, 3_266_489_917, 668_265_263, 374_761_393):
        a %= n
        if a > 1 and math.gcd(a, n) == 1:
            return a
    return 1


def _zipf_blocks(rng: np.random.Generator, n: int, s: float) -> Iterator[np.ndarray]:
    one_minus_s = 1.0 - s

    def h(x: np.ndarray | float) -> np.ndarray | float:
        return np.exp(-s * np.log(x))

    def h_integral(x: np.ndarray | float) -> np.ndarray | float:
        log_x = np.log(x)
        t = one_minus_s * log_x
        # expm1(t)/t, with its limit 1 at t = 0
        safe = np.where(np.abs(t) > 1e-8, t, 1.0)
        ratio = np.where(np.abs(t) > 1e-8, np.expm1(safe) / safe, 1.0 + t / 2.0)
        return ratio * log_x

    def h_integral_inverse(x: np.ndarray) -> np.ndarray:
        t = np.maximum(x * one_minus_s, -1.0)
        safe = np.where(np.abs(t) > 1e-8, t, 1.0)
        ratio = np.where(np.abs(t) > 1e-8, np.log1p(safe) / safe, 1.0 - t / 2.0)
        return np.exp(ratio * x)

    hx1 = float(h_integral(1.5)) - 1.0
    hn = float(h_integral(n + 0.5))
    s_const = 2.0 - float(h_integral_inverse(np.array(h_integral(2.5) - h(2.0))))
    while True:
        out: list[np.ndarray] = []
        have = 0
        # errstate only around the arithmetic, never across the yield: a context
        # manager held open in a generator is closed wherever the generator is
        # collected, and numpy's errstate cannot be reset from another context
        with np.errstate(divide="ignore", invalid="ignore"):
            while have < BLOCK:
                u = hn + rng.random(BLOCK) * (hx1 - hn)
                x = h_integral_inverse(u)
                k = np.clip(np.floor(x + 0.5), 1, n)
                ok = (k - x <= s_const) | (u >= h_integral(k + 0.5) - h(k))
                got = k[ok].astype(np.int64) - 1
                out.append(got)
                have += got.size
        yield np.concatenate(out)[:BLOCK]
