"""The streaming latency statistics: window quantiles and the run histogram."""

from __future__ import annotations

import numpy as np
import pytest

from simengine.metrics import LatencyStats, window_quantiles


@pytest.mark.parametrize("seed", range(5))
def test_window_quantiles_equal_numpys_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    qs = (0.0, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0)
    for n in [1, 2, 3, 7, 100, 101, 1_000, *rng.integers(1, 5_000, 200).tolist()]:
        for values in (rng.exponential(0.01, n), rng.integers(0, 4, n) * 0.5):
            expected = [float(v) for v in np.quantile(values, qs)]
            assert window_quantiles(values, qs) == expected


def test_a_window_reports_its_quantiles_and_the_run_its_percentiles() -> None:
    rng = np.random.default_rng(9)
    stats = LatencyStats()
    values = rng.exponential(0.02, 50_000)
    stats.values.extend(values.tolist())
    p50, p99 = stats.close_window(True, (0.5, 0.99))
    assert [p50, p99] == [float(v) for v in np.quantile(values, (0.5, 0.99))]
    summary = stats.summary_ms()
    # the run's percentiles come from 0.5%-wide log buckets: within 0.25%
    assert summary["p99"] == pytest.approx(p99 * 1000, rel=0.0025)
    assert summary["mean"] == pytest.approx(values.mean() * 1000, rel=1e-12)
    assert stats.close_window(True, (0.5,)) == [None]  # an empty window


def test_a_window_counts_its_values_spilled_or_not() -> None:
    stats = LatencyStats()
    stats.values.extend([0.001] * 300_000)
    stats.maybe_spill()  # past 262,144 values the list folds into a histogram
    assert stats.values == []
    stats.values.extend([0.002] * 5)
    assert stats.window_count() == 300_005
    stats.close_window(True)
    assert stats.window_count() == 0 and stats.count == 300_005
