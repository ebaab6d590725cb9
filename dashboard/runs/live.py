"""What the live run page needs besides the stream: the run's topology and its facts.

The page (templates/runs/detail.html, static/js/run.js) draws the run's document as
the designer does (`dashboard.scenarios.designer.document_graph`, positions from the
version's stored layout) and decides from the document which charts it shows: an
instances chart only for services that autoscale, a hit-ratio chart only when there is
a cache, and so on. Snapshots never come with the page: the WebSocket's catch-up
serves them (dashboard/runs/consumers.py), so a 10,000-snapshot run's page stays small.
"""

from __future__ import annotations

from typing import Any

import simengine
from dashboard.scenarios.designer import document_graph, vocabulary


def _component_facts(comp: Any) -> dict[str, Any]:
    """What a component's kind has that the live page can draw."""
    facts: dict[str, Any] = {"type": comp.type}
    if comp.type == "service":
        facts["instances"] = comp.instances
        facts["autoscale"] = comp.autoscale is not None
        if comp.autoscale is not None:
            facts["autoscale_min"] = comp.autoscale.min
            facts["autoscale_max"] = comp.autoscale.max
    elif comp.type == "cache":
        facts["nodes"] = comp.nodes
    elif comp.type == "database":
        facts["replicas"] = comp.replicas.count if comp.replicas else 0
        sh = comp.shards
        facts["shards"] = sh.count if sh else 1
        # how many shards it may have by the end (a rebalance adds some mid-run)
        facts["shards_max"] = facts["shards"] + (
            sh.rebalance.add if sh and sh.rebalance else 0
        )
        facts["primaries"] = comp.primaries
    elif comp.type == "load_balancer":
        facts["instances"] = getattr(comp, "instances", 1)
        facts["rate_limit"] = comp.rate_limit is not None
        facts["works"] = comp.work_ms is not None  # a capacity of its own
    elif comp.type == "queue":
        facts["consumers"] = comp.consumers
        facts["concurrency"] = comp.concurrency
    elif comp.type == "cdn":
        facts["regions"] = list(comp.regions)
    return facts


def run_live_view(run) -> dict[str, Any]:
    """The topology and document facts of `run` for its live page (json_script).

    `graph` is None when the stored text cannot be read any more (a run stored
    before a format change): the page then shows its charts without the canvas.
    """
    view: dict[str, Any] = {
        "graph": None,
        "positions": {},
        "components": {},
        "charts": {},
        "event_kinds": simengine.EVENT_KINDS,
    }
    try:
        tree = dict(simengine.load_document_tree(run.document_text))
        doc = simengine.parse_document(tree)
    except (simengine.DocumentError, TypeError, ValueError):
        return view
    view["graph"] = document_graph(tree)
    layout = run.version.layout if run.version_id and run.version else {}
    positions = layout.get("positions") if isinstance(layout, dict) else None
    view["positions"] = positions if isinstance(positions, dict) else {}
    sim = doc.simulation
    view["simulation"] = {
        "duration_s": sim.duration_s,
        "warmup_s": sim.warmup_s,
        "horizon_s": sim.warmup_s + sim.duration_s,
        "replications": sim.replications,
        "snapshot_s": sim.snapshot_s,
    }
    view["workload_rps"] = doc.workload.rps  # None for a closed workload
    users = getattr(doc.workload, "users", None)
    view["workload_users"] = {"count": users.count} if users is not None else None
    view["components"] = {
        cid: _component_facts(comp) for cid, comp in doc.components.items()
    }
    # The charts beyond the three every run has, only when the document has the
    # thing: the series each one draws.
    view["charts"] = {
        "instances": [
            cid for cid, facts in view["components"].items() if facts.get("autoscale")
        ],
        "hit_ratio": [
            cid for cid, facts in view["components"].items() if facts["type"] == "cache"
        ],
        "replication_lag": [
            cid for cid, facts in view["components"].items() if facts.get("replicas")
        ],
        "shards": [
            cid
            for cid, facts in view["components"].items()
            if facts.get("shards_max", 1) > 1
        ],
        "queues": [
            cid for cid, facts in view["components"].items() if facts["type"] == "queue"
        ],
        # a retrying workload: attempts and re-sends per second beside the offered
        "retries": doc.workload.retry is not None,
        # a balancer's rate limit: 429s per second on the failures chart
        "rate_limited": any(
            facts.get("rate_limit") for facts in view["components"].values()
        ),
    }
    view["type_labels"] = vocabulary()["type_labels"]
    return view


def replications_summary(report: dict | None) -> dict[str, Any] | None:
    """The means over a run's replications and their 95% intervals, for the
    replications panel once the report comes (None for one replication)."""
    if not isinstance(report, dict) or (report.get("replications") or 1) < 2:
        return None
    ci = report.get("ci95") or {}
    requests = report.get("requests") or {}
    offered = requests.get("offered") or 0
    failed = sum(requests.get(k) or 0 for k in ("errors", "timeouts", "rejected"))
    return {
        "replications": report["replications"],
        "throughput_rps": report.get("throughput_rps"),
        "throughput_ci": ci.get("throughput_rps"),
        "p99_ms": (report.get("latency_ms") or {}).get("p99"),
        "p99_ci": ci.get("latency_ms.p99"),
        "error_rate": failed / offered if offered else None,
        "partial": report.get("partial"),
    }
