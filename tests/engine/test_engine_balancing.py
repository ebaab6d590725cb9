"""Balancer algorithms, health checks, retries and balancer instances."""

from __future__ import annotations

from types import SimpleNamespace

from helpers_engine import balanced_doc

import simengine
from simengine.balancing import STRATEGIES


def _share(report: dict) -> dict[str, float]:
    return report["components"]["lb"]["share"]


def test_round_robin_shares_are_exactly_even() -> None:
    report = simengine.run_replication(
        balanced_doc(rps=300, requests=30_000, algorithm="round_robin", instances=3),
        seed=1,
    )
    sent = report["requests"]["offered"]
    for share in _share(report).values():
        assert abs(share - 1 / 3) <= 2 / sent


def test_weighted_round_robin_is_in_proportion_to_the_weights() -> None:
    doc = balanced_doc(
        rps=300,
        requests=30_000,
        algorithm="weighted_round_robin",
        instances=1,
        extra_services={"big": {"instances": 1, "cores": 4, "work_ms": 10}},
        lb={"weights": {"web": 1, "big": 3}},
    )
    share = _share(simengine.run_replication(doc, seed=1))
    assert abs(share["web-0"] - 0.25) < 0.001
    assert abs(share["big-0"] - 0.75) < 0.001


def test_weighted_round_robin_defaults_to_cores_times_speed() -> None:
    doc = balanced_doc(
        rps=300,
        requests=20_000,
        algorithm="weighted_round_robin",
        instances=1,
        cores=2,
        extra_services={"big": {"instances": 1, "cores": 4, "speed": 1.5}},
    )
    share = _share(simengine.run_replication(doc, seed=1))
    assert abs(share["web-0"] - 2 / 8) < 0.001
    assert abs(share["big-0"] - 6 / 8) < 0.001


def test_ip_hash_keeps_each_client_on_one_instance() -> None:
    strategy = STRATEGIES["ip_hash"]([0] * 8, lambda: 0.5, {})
    pool = [SimpleNamespace(uid=i, service_name="web") for i in range(5)]
    strategy.reset(pool, pool)
    for client in range(200):
        req = SimpleNamespace(client=client)
        first = strategy.pick(req)
        assert all(strategy.pick(req) is first for _ in range(20))
    # a single client in a whole run: one instance gets everything
    doc = balanced_doc(
        rps=100,
        requests=5_000,
        algorithm="ip_hash",
        instances=4,
        workload={"clients": 1},
    )
    shares = sorted(_share(simengine.run_replication(doc, seed=1)).values())
    assert shares[-1] == 1.0 and sum(shares[:-1]) == 0.0


def test_ip_hash_moves_only_the_dead_instances_clients() -> None:
    strategy = STRATEGIES["ip_hash"]([0] * 8, lambda: 0.5, {})
    pool = [SimpleNamespace(uid=i, service_name="web") for i in range(4)]
    strategy.reset(pool, pool)
    before = {c: strategy.pick(SimpleNamespace(client=c)).uid for c in range(400)}
    strategy.reset([p for p in pool if p.uid != 2], pool)
    after = {c: strategy.pick(SimpleNamespace(client=c)).uid for c in range(400)}
    moved = [c for c in before if before[c] != after[c]]
    assert moved and all(before[c] == 2 for c in moved)


def test_every_algorithm_spreads_load_and_completes_requests() -> None:
    for algorithm in STRATEGIES:
        doc = balanced_doc(
            rps=200, requests=8_000, algorithm=algorithm, instances=3, cores=2
        )
        report = simengine.run_replication(doc, seed=2)
        assert report["requests"]["errors"] == 0, algorithm
        assert report["requests"]["completed"] > 0.99 * report["requests"]["offered"]
        shares = _share(report)
        assert len(shares) == 3, algorithm
        if algorithm != "ip_hash":
            assert min(shares.values()) > 0.2, (algorithm, shares)


def test_layer7_adds_its_overhead_and_layer4_none() -> None:
    def mean_ms(layer: int) -> float:
        doc = balanced_doc(
            rps=100,
            requests=10_000,
            algorithm="round_robin",
            web={"work_ms": 5},  # constant work: no queueing noise at 10% per core
            instances=3,
            cores=4,
            lb={"layer": layer, "overhead_ms": 2.0},
        )
        return simengine.run_replication(doc, seed=1)["latency_ms"]["mean"]

    assert abs(mean_ms(4) - 5.0) < 1e-6
    assert abs(mean_ms(7) - 7.0) < 1e-6


def _dead_instance_doc(health_check: dict | None, retries: int = 0) -> object:
    lb: dict = {"retries": retries}
    if health_check is not None:
        lb["health_check"] = health_check
    return balanced_doc(
        rps=300,
        requests=300 * 40,
        algorithm="round_robin",
        instances=3,
        cores=2,
        lb=lb,
        faults=[{"at_s": 10, "component": "web", "instance": 1}],
        snapshot_s=0.5,
        warmup_s=0,
    )


def test_without_health_check_the_dead_instances_share_fails() -> None:
    report = simengine.run_replication(_dead_instance_doc(None), seed=3)
    req = report["requests"]
    # 30 of 40 s with one of three instances dead: a third of those requests fail
    expected = 300 * 30 / 3
    assert abs(req["errors"] - expected) < 0.02 * expected
    # the balancer counts the refused ones; the few in service when it died fail too
    lb_errors = report["components"]["lb"]["errors"]
    assert 0 <= req["errors"] - lb_errors <= 5
    assert report["components"]["web"]["errors"] == req["errors"] - lb_errors


def test_health_check_stops_traffic_to_a_dead_instance_within_its_detection_delay():
    hc = {"interval_s": 2, "timeout_ms": 500, "unhealthy_after": 2}
    report = simengine.run_replication(_dead_instance_doc(hc), seed=3)
    # worst case: the fault lands just after a probe; two failed probes, the second
    # one's timeout: 2 x interval + timeout after the fault
    bound = 10 + 2 * 2 + 0.5
    errors_after = sum(
        w["errors"] for w in report["timeline"] if w["t_s"] > bound + 0.5
    )
    errors_before = sum(
        w["errors"] for w in report["timeline"] if w["t_s"] <= bound + 0.5
    )
    assert errors_after == 0
    # but it did fail requests until detected: about a third of traffic for
    # (1 x interval + timeout) .. (2 x interval + timeout)
    assert 100 * (2 + 0.5) * 0.8 < errors_before < 100 * (4 + 0.5) * 1.2
    assert report["requests"]["errors"] == errors_before


def test_retries_send_a_refused_request_elsewhere() -> None:
    report = simengine.run_replication(_dead_instance_doc(None, retries=1), seed=3)
    # only the requests in service on the instance when it died are lost
    assert report["requests"]["errors"] <= 2
    assert report["components"]["lb"]["errors"] == 0
    assert report["components"]["lb"]["retries"] > 0.9 * 300 * 30 / 3


def test_a_single_balancer_is_a_single_point_of_failure() -> None:
    def errors(instances: int) -> int:
        doc = balanced_doc(
            rps=200,
            requests=200 * 20,
            algorithm="round_robin",
            lb={"instances": instances},
            faults=[{"at_s": 10, "component": "lb", "instance": 0, "for_s": 5}],
            warmup_s=0,
        )
        return simengine.run_replication(doc, seed=1)["requests"]["errors"]

    assert abs(errors(1) - 200 * 5) < 0.1 * 200 * 5
    assert errors(2) == 0
