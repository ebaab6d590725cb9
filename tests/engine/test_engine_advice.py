"""The bottleneck advice on a database with several nodes names the busiest node.

A database's ``utilization`` covers all its nodes (primary and replicas), so advice that
said "primary" of it was wrong; these documents put the load on replicas, on the
primary, and nowhere near saturation. The wording is the one advisor's
(``simengine.advice.advisor``), shared with the estimate: see
``test_advice_one_advisor.py`` for the two paths side by side.
"""

from __future__ import annotations

from typing import Any

from helpers_engine import document

from simengine.advice import bottleneck
from simengine.runner import run_replication


def _doc(
    db: dict[str, Any], read_ratio: float, rps: float = 600, clients: int = 10_000
) -> Any:
    return document(
        duration_s=30,
        warmup_s=2,
        seed=0,
        workload={
            "target": "web",
            "rps": rps,
            "read_ratio": read_ratio,
            "keys": {"count": 10000},
            "clients": clients,
        },
        components={
            "web": {
                "type": "service",
                "instances": 8,
                "cores": 8,
                "work_ms": 1,
                "calls": ["db"],
            },
            "db": {"type": "database", **db},
        },
    )


def test_replicas_hot_advice_names_the_replica_and_asks_for_more_replicas():
    doc = _doc(
        {
            "primary": {"cores": 4, "read_ms": 10, "write_ms": 5},
            "replicas": {"count": 2},
        },
        read_ratio=0.95,
        rps=600,
    )
    neck = run_replication(doc, seed=1)["bottleneck"]
    assert neck["component"] == "db"
    assert neck["advice"].startswith("db is the bottleneck: db at ")
    assert "over its 3 nodes (busiest: replica-" in neck["advice"]
    assert "Its read replicas are its busiest nodes" in neck["advice"]
    assert "more read replicas or a cache" in neck["advice"]
    assert "db primary at" not in neck["advice"]


def test_primary_hot_with_read_your_writes_names_the_primary():
    # 20 clients writing often, 300 ms of lag: most reads go to the primary
    doc = _doc(
        {
            "primary": {"cores": 4, "read_ms": 10, "write_ms": 5},
            "replicas": {
                "count": 2,
                "reads": "read_your_writes",
                "lag_ms": 300,
            },
        },
        read_ratio=0.7,
        rps=400,
        clients=20,
    )
    report = run_replication(doc, seed=1)
    neck = report["bottleneck"]
    nodes = report["components"]["db"]["nodes"]
    assert max(nodes, key=lambda k: nodes[k]["utilization"]) == "primary"
    assert "(busiest: primary at" in neck["advice"]
    assert (
        "the reads of clients whose last write has not reached every replica go to "
        "the primary" in neck["advice"]
    )


def test_primary_hot_with_replicas_advice_asks_for_a_bigger_primary_or_shards():
    comps = {
        "web": {"utilization": 0.2},
        "db": {
            "utilization": 0.7,
            "read_work_share": 0.3,
            "nodes": {
                "primary": {"utilization": 0.9},
                "replica-0": {"utilization": 0.6},
                "replica-1": {"utilization": 0.6},
            },
            "shards": [{"utilization": 0.7}],
        },
    }
    doc = _doc({"replicas": {"count": 2}}, read_ratio=0.5)
    advice = bottleneck(doc, comps)["advice"]
    assert advice.startswith(
        "db is the bottleneck: db at 70% over its 3 nodes (busiest: primary at 90%)"
    )
    assert "a bigger primary (vertical scaling) or sharding" in advice
    assert "a primary of 16 cores instead of 8 would bring it to about 45%" in advice


def test_headroom_advice_still_says_what_relieves_the_busiest_component():
    doc = _doc(
        {"primary": {"cores": 8, "read_ms": 10, "write_ms": 10}},
        read_ratio=0.9,
        rps=200,
    )
    neck = run_replication(doc, seed=1)["bottleneck"]
    assert neck["component"] == "db" and neck["utilization"] < 0.5
    assert neck["advice"].startswith(
        "Nothing is under pressure: every component has headroom at this load"
    )
    assert "If the load grows, db saturates first" in neck["advice"]
    assert (
        "then its reads can be spread or avoided: read replicas or a cache"
        in neck["advice"]
    )


def test_shard_hotspot_is_named():
    doc = _doc({"shards": {"count": 4}}, read_ratio=0.9)
    comps = {
        "web": {"utilization": 0.1},
        "db": {
            "utilization": 0.6,
            "read_work_share": 0.8,
            "nodes": {
                f"shard-{i}": {"utilization": u}
                for i, u in enumerate([0.95, 0.5, 0.5, 0.45])
            },
            "shards": [{"utilization": u} for u in [0.95, 0.3, 0.3, 0.25]],
        },
    }
    advice = bottleneck(doc, comps)["advice"]
    assert "Shard 0 is a hotspot (95% against a mean of 45%)" in advice


def test_combined_replications_rank_a_database_by_its_busiest_node():
    from simengine.runner import combine_reports

    def rep(seed_offset: int) -> dict[str, Any]:
        comps = {
            "web": {"utilization": 0.5},
            "db": {
                "utilization": 0.4,
                "nodes": {
                    "primary": {"utilization": 0.9},
                    "replica-0": {"utilization": 0.15},
                    "replica-1": {"utilization": 0.15},
                },
            },
        }
        return {
            "seed": 1,
            "replication": seed_offset,
            "components": comps,
            "bottleneck": {"component": "db", "utilization": 0.9, "advice": "x"},
        }

    combined = combine_reports([rep(0), rep(1)])
    assert combined["bottleneck"]["component"] == "db"
    assert combined["bottleneck"]["utilization"] == 0.9
