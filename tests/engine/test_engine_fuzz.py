"""Any valid document simulates: no exception, a plain finite JSON report whose
figures stay in their ranges, and the same report again for the same seed.

The documents come from ``strategies.simulated_documents``: random topologies with
every feature switched on at random (faults, failover, rebalancing, autoscaling,
timeouts, every balancing algorithm ...), each about 1,500 requests long.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from strategies import simulated_documents

import simengine


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(simulated_documents())
def test_any_valid_document_simulates_to_a_sane_repeatable_report(tree) -> None:
    doc = simengine.parse_document(tree)
    limits = simengine.Limits(max_events=3_000_000)
    seed = doc.simulation.seed
    report = simengine.run_replication(doc, seed=seed, limits=limits)
    text = json.dumps(report, allow_nan=False, sort_keys=True)
    req = report["requests"]
    for key in ("offered", "completed", "errors", "timeouts", "rejected"):
        assert req[key] >= 0, (key, req)
    assert req["in_flight"] >= 0, req
    if "retries" in req:  # workload.retry: a request gives up once, as it ends
        assert req["gave_up"] == req["errors"] + req["timeouts"] + req["rejected"]
        assert req["attempts"] == req["offered"] + req["retries"]
    for cid, comp in report["components"].items():
        if comp["type"] in simengine.UTILIZATION_NOTES:  # nothing to measure
            assert comp["utilization"] is None and comp["utilization_note"], cid
        else:
            assert 0.0 <= comp["utilization"] <= 1.0, (cid, comp["utilization"])
        assert comp["throughput_rps"] >= 0, cid
    lat = report["latency_ms"]
    if req["completed"]:
        assert 0 <= lat["p50"] <= lat["p99"] <= lat["max"] * (1 + 1e-9)
    again = simengine.run_replication(doc, seed=seed, limits=limits)
    assert json.dumps(again, allow_nan=False, sort_keys=True) == text
