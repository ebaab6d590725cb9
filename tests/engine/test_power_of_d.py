"""Power of d choices, against the supermarket model's mean field; and the estimate of
load-aware balancing (power of d, least connections) instead of a random split."""

from __future__ import annotations

import pytest

import simengine
from simengine.analytic.queueing import supermarket_response

DOC = """\
scaleboard: 1
name: 100 single-core servers at 90%
simulation: {duration_s: 60, warmup_s: 10, seed: 2, snapshot_s: 10}
workload: {target: lb, rps: 9000, read_ratio: 1.0}
components:
  lb: {type: load_balancer, algorithm: ALG, layer: 4, targets: [web]EXTRA}
  web: {type: service, instances: 100, cores: 1, work_ms: {dist: exponential, mean: 10}}
network: {hop_ms: 0}
"""


def _doc(alg: str, extra: str = "") -> simengine.Document:
    return simengine.parse_document(DOC.replace("ALG", alg).replace("EXTRA", extra))


def test_the_mean_field_of_the_supermarket_model():
    # sum over i of 0.9 ** (2**i - 1), over 0.9: Mitzenmacher's d = 2 at 90%
    assert supermarket_response(0.9, 2) == pytest.approx(2.6141, rel=1e-3)
    assert supermarket_response(0.5, 2) == pytest.approx(
        sum(0.5 ** (2**i - 1) for i in range(1, 10)) / 0.5
    )


@pytest.mark.parametrize(("d", "tolerance"), [(3, 0.04), (5, 0.05)])
def test_power_of_d_at_large_n_matches_the_mean_field(d, tolerance):
    report = simengine.simulate(_doc("power_of_d", f", d: {d}"))
    expected = 10.0 * supermarket_response(0.9, d)
    assert report["latency_ms"]["mean"] == pytest.approx(expected, rel=tolerance)
    # and the estimate is the mean field itself
    estimate = simengine.estimate(_doc("power_of_d", f", d: {d}"))
    assert estimate["latency_ms"]["mean"] == pytest.approx(expected, rel=1e-3)


def test_more_choices_wait_less_and_the_estimate_follows_the_run():
    means = {}
    for alg, extra in (
        ("random", ""),
        ("power_of_two", ""),
        ("power_of_d", ", d: 4"),
        ("least_connections", ""),
    ):
        run = simengine.simulate(_doc(alg, extra))["latency_ms"]["mean"]
        est = simengine.estimate(_doc(alg, extra))["latency_ms"]["mean"]
        assert est == pytest.approx(run, rel=0.12), alg
        means[alg] = run
    assert (
        means["random"]
        > means["power_of_two"]
        > means["power_of_d"]
        > means["least_connections"]
    )
    assert means["least_connections"] < 12.0  # nearly no wait: about the work itself


def test_d_is_only_for_power_of_d_and_defaults_to_three():
    with pytest.raises(simengine.DocumentError) as err:
        _doc("random", ", d: 3")
    assert "components.lb.d: only algorithm power_of_d takes d" in str(err.value)
    with pytest.raises(simengine.DocumentError) as err:
        _doc("power_of_d", ", d: 1")
    assert "components.lb.d: must be >= 2" in str(err.value)
    default = simengine.estimate(_doc("power_of_d"))["latency_ms"]["mean"]
    assert default == pytest.approx(10.0 * supermarket_response(0.9, 3), rel=1e-3)
