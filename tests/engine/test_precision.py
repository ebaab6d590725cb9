"""Precision-driven runs: replications are added until the metric's 95% interval is
narrow enough, and the report says what was reached."""

from __future__ import annotations

import json

import pytest

import simengine

DOC = """\
scaleboard: 1
name: M/M/4 to a precision
simulation:
  duration_s: 40
  warmup_s: 5
  seed: 1
  snapshot_s: 5
  precision: PRECISION
workload: {target: server, rps: 320, read_ratio: 1.0}
components:
  server: {type: service, cores: 4, work_ms: {dist: exponential, mean: 10}}
"""


def _doc(precision: str, replications: int | None = None) -> simengine.Document:
    text = DOC.replace("PRECISION", precision)
    if replications is not None:
        text = text.replace(
            "  seed: 1\n", f"  seed: 1\n  replications: {replications}\n"
        )
    return simengine.parse_document(text)


def test_replications_stop_once_the_interval_is_narrow_enough():
    doc = _doc("{metric: latency_ms.mean, within: 0.05, max_replications: 40}")
    report = simengine.simulate(doc)
    k = report["replications"]
    assert 2 <= k < 40
    precision = report["precision"]
    assert precision["met"] is True and precision["reached"] <= 0.05
    assert precision["replications"] == k and precision["max_replications"] == 40
    lo, hi = report["ci95"]["latency_ms.mean"]
    assert (hi - lo) / 2 / report["latency_ms"]["mean"] == pytest.approx(
        precision["reached"]
    )
    # one fewer would not have been enough (else it would have stopped there)
    fewer = (
        simengine.simulate(
            simengine.parse_document(
                DOC.replace("  precision: PRECISION\n", f"  replications: {k - 1}\n")
            )
        )
        if k > 2
        else None
    )
    if fewer is not None:
        lo, hi = fewer["ci95"]["latency_ms.mean"]
        assert (hi - lo) / 2 / fewer["latency_ms"]["mean"] > 0.05
    # and the same replications asked for by number give the same report
    fixed = simengine.simulate(
        simengine.parse_document(
            DOC.replace("  precision: PRECISION\n", f"  replications: {k}\n")
        )
    )
    report.pop("precision")
    assert json.dumps(report, sort_keys=True) == json.dumps(fixed, sort_keys=True)


def test_the_cap_stops_a_run_that_cannot_reach_the_precision_and_says_so():
    doc = _doc("{metric: latency_ms.p99, within: 0.001, max_replications: 4}")
    report = simengine.simulate(doc)
    assert report["replications"] == 4
    assert (
        report["precision"]["met"] is False and report["precision"]["reached"] > 0.001
    )


def test_replications_is_the_least_number_run():
    doc = _doc(
        "{metric: throughput_rps, within: 0.5, max_replications: 10}", replications=5
    )
    assert simengine.simulate(doc)["replications"] == 5


@pytest.mark.parametrize(
    ("precision", "path", "words"),
    [
        (
            "{metric: latency_ms.p98, within: 0.02}",
            "simulation.precision.metric",
            "must be one of",
        ),
        (
            "{metric: components.nope.utilization, within: 0.1}",
            "simulation.precision.metric",
            "no component 'nope'",
        ),
        ("{within: 0}", "simulation.precision.within", "must be > 0"),
        ("{within: 2}", "simulation.precision.within", "<= 1"),
        (
            "{within: 0.1, max_replications: 1}",
            "simulation.precision.max_replications",
            "at least",
        ),
        (
            "{within: 0.1, max_replications: 500}",
            "simulation.precision.max_replications",
            "<= 100",
        ),
        ("{metric: latency_ms.p99}", "simulation.precision.within", "required"),
    ],
)
def test_a_bad_precision_is_refused_naming_its_field(precision, path, words):
    with pytest.raises(simengine.DocumentError) as err:
        _doc(precision)
    assert path in [e.path for e in err.value.errors], err.value
    assert words in str(err.value)


def test_the_limits_count_the_most_replications_a_precision_may_take():
    text = DOC.replace("duration_s: 40", "duration_s: 4000").replace(
        "PRECISION", "{within: 0.01, max_replications: 100}"
    )
    with pytest.raises(simengine.DocumentError) as err:
        simengine.parse_document(text, limits=simengine.Limits(max_requests=10**8))
    assert "100 replications" in str(err.value)
