"""The command line's text report shows the data tier as the web report does: a
cache's hit ratio, stale reads and lost writes; a replicated, sharded database's lag,
stale reads, lost writes and load per node and per shard. A utilization that is not
measured (a balancer, a cache) is ``-`` with its reason, never a crash."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from simengine.cli import summary

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def report() -> dict[str, Any]:
    # step 7: a cache in front of four hash shards, each a primary and 2 replicas
    return json.loads((GOLDEN / "case-study-step7.json").read_text())


def _line(text: str, start: str) -> str:
    found = [line for line in text.splitlines() if line.startswith(start)]
    assert found, f"no line starts with {start!r} in:\n{text}"
    return found[0]


def test_the_text_report_shows_the_cache(report):
    cache = report["components"]["cache"]
    text = summary(report)
    line = _line(text, "cache: hit ratio")
    assert line.startswith(
        f"cache: hit ratio {cache['hit_ratio'] * 100:.1f}% ({cache['hits']:,} hits, "
        f"{cache['misses']:,} misses); stale reads {cache['stale_reads']:,};"
    )
    follow = text.splitlines()[text.splitlines().index(line) + 1]
    assert follow == (
        f"    evictions {cache['evictions']:,}, expirations {cache['expirations']:,}; "
        f"lost writes {cache['lost_writes']:,} ({cache['lost_keys']:,} keys)"
    )


def test_the_text_report_shows_replication_and_the_load_per_node_and_shard(report):
    db = report["components"]["postgres"]
    text = summary(report)
    lag = db["replication_lag_ms"]
    assert _line(text, "postgres: ") == (
        f"postgres: replication lag mean {lag['mean']:,.2f} ms, max "
        f"{lag['max']:,.2f} ms; stale reads {db['stale_reads']:,}; lost writes "
        f"{db['lost_writes']:,}"
    )
    assert len(db["nodes"]) == 12
    flat = " ".join(line.strip() for line in text.splitlines())
    for name, node in db["nodes"].items():
        assert f"{name} {node['utilization'] * 100:.1f}%" in flat
    assert _line(text, "  nodes: shard-0 ")
    shards = _line(text, "  shards: ")
    first = db["shards"][0]
    assert shards.startswith(
        f"  shards: 0: {first['share'] * 100:.1f}% of requests, "
        f"{first['utilization'] * 100:.1f}% busy; 1: "
    )
    for i, sh in enumerate(db["shards"]):
        assert f"{i}: {sh['share'] * 100:.1f}% of requests" in flat
    tier = text[text.index("cache: hit ratio") : text.index("\ncost ")]
    assert all(len(line) <= 88 for line in tier.splitlines())


def test_a_utilization_that_is_not_measured_shows_a_dash_and_why(report):
    report = copy.deepcopy(report)
    report["components"]["lb"]["utilization"] = None
    report["components"]["lb"]["utilization_note"] = "a balancer has no capacity"
    report["components"]["cache"]["utilization"] = None
    for window in report["timeline"]:
        for comp in ("lb", "cache"):
            window["components"][comp]["utilization"] = None
    text = summary(report)
    assert _line(text, "lb ").split()[:3] == ["lb", "load_balancer", "-"]
    assert _line(text, "cache ").split()[:3] == ["cache", "cache", "-"]
    assert "util - for lb: a balancer has no capacity" in text
    assert "util - for cache: no capacity of its own in this model" in text
    assert "None" not in text


def test_a_report_with_nothing_measured_still_prints(report):
    report = copy.deepcopy(report)
    for comp in report["components"].values():
        comp["utilization"] = None
        comp["throughput_rps"] = None
        comp.pop("nodes", None)
    report["bottleneck"] = {
        "component": None,
        "utilization": 0.0,
        "advice": "Nothing measured: no component has a capacity of its own.",
    }
    text = summary(report)
    assert "advice: Nothing measured" in text
    assert "None" not in text
    assert "bottleneck:" not in text and "busiest:" not in text


def test_the_bottleneck_line_names_the_component_and_its_level(report):
    neck = report["bottleneck"]
    text = summary(report)
    assert _line(text, "busiest: ") == (
        f"busiest: {neck['component']} at {neck['utilization'] * 100:.1f}%"
    )
    assert _line(text, "advice: ") == f"advice: {neck['advice']}"
