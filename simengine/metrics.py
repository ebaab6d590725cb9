"""Streaming statistics: nothing here keeps a record per request for the whole run.

Latencies are appended to a per-window Python list (the cheapest thing to do per
request); when the window closes the list becomes a numpy array, gives the window's
percentiles, and is folded into a fixed-size log-bucket histogram (0.5% wide
buckets, so a percentile read from it is within 0.25% of the exact value).
"""

from __future__ import annotations

import math

import numpy as np

_MIN_S = 1e-7  # 0.1 microsecond
_GROWTH = 1.005
_LOG_MIN = math.log(_MIN_S)
_INV_LOG_GROWTH = 1.0 / math.log(_GROWTH)
_BUCKETS = int(math.log(1e7 / _MIN_S) * _INV_LOG_GROWTH) + 2  # up to 10^7 s
_FLUSH = 262_144  # fold a window's list into its histogram beyond this many values


def _bucket_index(values: np.ndarray) -> np.ndarray:
    idx = (np.log(np.maximum(values, _MIN_S)) - _LOG_MIN) * _INV_LOG_GROWTH
    return np.clip(idx.astype(np.int64), 0, _BUCKETS - 1)


def _hist_percentile(
    counts: np.ndarray, total: int, q: float, lo: float, hi: float
) -> float:
    """The q-quantile (0..1) from bucket counts, interpolated inside the bucket."""
    rank = q * total
    cum = np.cumsum(counts)
    i = int(np.searchsorted(cum, rank, side="left"))
    i = min(i, _BUCKETS - 1)
    before = float(cum[i - 1]) if i > 0 else 0.0
    inside = float(counts[i]) or 1.0
    frac = min(max((rank - before) / inside, 0.0), 1.0)
    value = math.exp(_LOG_MIN + (i + frac) / _INV_LOG_GROWTH)
    return min(max(value, lo), hi)


def window_quantiles(values: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """``np.quantile(values, qs)`` (the default "linear" method), bit for bit, for a
    non-empty 1-d float array: one partition and a few lines of arithmetic, without
    the generality ``np.quantile`` pays for on every window (and the ``numpy.ma``
    import it triggers on first use)."""
    n = values.size
    spots = []
    for q in qs:
        at = (n - 1) * q  # numpy's virtual index for "linear"
        lo = math.floor(at)
        spots.append((at, min(lo, n - 1), min(lo + 1, n - 1)))
    part = np.partition(values, sorted({i for _, lo, hi in spots for i in (lo, hi)}))
    out = []
    for at, lo, hi in spots:
        a, b = float(part[lo]), float(part[hi])
        t = at - lo if at < n - 1 else 1.0  # past the end: the maximum
        diff = b - a
        # numpy's _lerp: from the nearer end, so t = 1 gives b exactly
        out.append(b - diff * (1 - t) if t >= 0.5 else a + diff * t)
    return out


class LatencyStats:
    """Latency (seconds) of one measured quantity: window lists + a run histogram."""

    __slots__ = (
        "_spill",
        "_spill_max",
        "_spill_min",
        "_spill_sum",
        "_spilled",
        "count",
        "counts",
        "max",
        "min",
        "sum",
        "values",
    )

    def __init__(self) -> None:
        self.values: list[float] = []
        self._spill: np.ndarray | None = None  # the window's overflow, as a histogram
        self._spilled = 0  # values in _spill
        # exact sum and extremes of the spilled values (the mean stays exact)
        self._spill_sum = 0.0
        self._spill_max = 0.0
        self._spill_min = math.inf
        self.counts = np.zeros(_BUCKETS, dtype=np.int64)
        self.count = 0
        self.sum = 0.0
        self.max = 0.0
        self.min = math.inf

    def maybe_spill(self) -> None:
        """Bound the window list's memory (called at least every few thousand events)."""
        if len(self.values) >= _FLUSH:
            arr = np.asarray(self.values, dtype=np.float64)
            self.values.clear()
            self._spilled += arr.size
            self._spill_sum += float(arr.sum())
            self._spill_max = max(self._spill_max, float(arr.max()))
            self._spill_min = min(self._spill_min, float(arr.min()))
            spill = np.bincount(_bucket_index(arr), minlength=_BUCKETS)
            self._spill = spill if self._spill is None else self._spill + spill

    def window_count(self) -> int:
        """Values recorded in the open window (spilled ones included)."""
        return len(self.values) + self._spilled

    def close_window(
        self, measured: bool, percentiles: tuple[float, ...] = ()
    ) -> list[float | None]:
        """Close the window: return its percentiles (seconds) and, when measured,
        fold it into the run's statistics."""
        arr = np.asarray(self.values, dtype=np.float64)
        self.values.clear()
        spill = self._spill
        spill_sum, spill_max, spill_min = (
            self._spill_sum,
            self._spill_max,
            self._spill_min,
        )
        self._spill = None
        self._spilled = 0
        self._spill_sum, self._spill_max, self._spill_min = 0.0, 0.0, math.inf
        out: list[float | None] = []
        if percentiles:
            if spill is None:
                if arr.size:
                    out = window_quantiles(arr, percentiles)
                else:
                    out = [None] * len(percentiles)
            else:
                counts = spill + np.bincount(_bucket_index(arr), minlength=_BUCKETS)
                total = int(counts.sum())
                out = [
                    _hist_percentile(counts, total, q, 0.0, math.inf)
                    for q in percentiles
                ]
        if measured and (arr.size or spill is not None):
            if arr.size:
                self.counts += np.bincount(_bucket_index(arr), minlength=_BUCKETS)
                self.count += int(arr.size)
                self.sum += float(arr.sum())
                self.max = max(self.max, float(arr.max()))
                self.min = min(self.min, float(arr.min()))
            if spill is not None:
                # spilled values keep their exact sum and extremes; only their
                # quantiles come from the histogram
                self.counts += spill
                self.count += int(spill.sum())
                self.sum += spill_sum
                self.max = max(self.max, spill_max)
                self.min = min(self.min, spill_min)
        return out

    def summary_ms(self) -> dict[str, float | None]:
        """mean, p50, p90, p95, p99, max in milliseconds (None when no data)."""
        if self.count == 0:
            return {k: None for k in ("mean", "p50", "p90", "p95", "p99", "max")}
        total = self.count
        out: dict[str, float | None] = {"mean": self.sum / total * 1000.0}
        for name, q in (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99)):
            out[name] = (
                _hist_percentile(self.counts, total, q, self.min, self.max) * 1000.0
            )
        out["max"] = self.max * 1000.0
        return out


def waiting_summary(
    waits: LatencyStats, arrived: int, queued: int, *, times: bool = True
) -> dict[str, float | None]:
    """A station's ``waiting`` report entry: ``probability``, the share of the
    ``arrived`` requests (accepted, measured) that found every core busy
    (``queued``), and, when ``times``, the wait for a core (ms) over the requests
    that started: ``arrived - queued`` started at once (a wait of 0) and ``waits``
    holds the others' waits (> 0). Its quantiles are those of that mixture: 0 up to
    the share that did not wait, the waits' histogram above it."""
    probability = queued / arrived if arrived else None
    if not times:
        return {"probability": probability}
    zeros = max(arrived - queued, 0)
    total = zeros + waits.count
    out: dict[str, float | None] = {"probability": probability}
    if total == 0:
        out.update({"mean_ms": None, "p50_ms": None, "p95_ms": None, "p99_ms": None})
        return out
    out["mean_ms"] = waits.sum / total * 1000.0
    for name, q in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
        rank = q * total
        if rank <= zeros or waits.count == 0:
            out[name] = 0.0
        else:
            inner = (rank - zeros) / waits.count
            out[name] = (
                _hist_percentile(waits.counts, waits.count, inner, waits.min, waits.max)
                * 1000.0
            )
    return out
