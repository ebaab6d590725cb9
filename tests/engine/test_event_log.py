"""The event log: what happened to the system and when, in the stream and the report.

Every event rides on the snapshot of the window it happened in and the report keeps
them all; kinds come from one vocabulary (`simengine.EVENT_KINDS`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import simengine
from tests.engine.helpers_engine import document

GOLDEN = Path(__file__).parent / "golden"

WEB = {"type": "service", "instances": 3, "cores": 2, "work_ms": 10}


def _faulty(**extra):
    return document(
        workload={"target": "lb", "rps": 200},
        components={
            "lb": {
                "type": "load_balancer",
                "targets": ["web"],
                "health_check": {"interval_s": 1, "unhealthy_after": 2},
            },
            "web": WEB,
        },
        duration_s=30,
        warmup_s=2,
        faults=[{"at_s": 10, "component": "web", "instance": 1, "for_s": 5}],
        **extra,
    )


def _run(doc):
    run = simengine.stream(doc)
    snapshots = list(run)
    return snapshots, run.report


def test_a_fault_logs_the_instance_down_removed_back_and_restored_in_order():
    _, report = _run(_faulty())
    log = [(e["kind"], e["component"], e.get("instance")) for e in report["event_log"]]
    assert log == [
        ("instance_down", "web", "web-1"),
        ("health_removed", "lb", "web-1"),
        ("instance_up", "web", "web-1"),
        ("health_restored", "lb", "web-1"),
    ]
    times = [e["t_s"] for e in report["event_log"]]
    assert times[0] == pytest.approx(10.0) and times[2] == pytest.approx(15.0)
    # two failed checks a second apart (the first answered after its timeout)
    assert 11.0 <= times[1] <= 12.5
    assert times == sorted(times)
    assert all(e["text"] and e["replication"] == 0 for e in report["event_log"])


def test_each_event_rides_on_the_snapshot_of_its_window_and_nowhere_else():
    snapshots, report = _run(_faulty())
    streamed = [e for s in snapshots for e in s.get("event_log", [])]
    assert streamed == report["event_log"]
    for snap in snapshots:
        start = snap["t_s"] - snap["window_s"]
        for event in snap.get("event_log", []):
            assert start - 1e-9 <= event["t_s"] <= snap["t_s"] + 1e-9
    # the report's timeline stays format 1's: no event lists in it
    assert all("event_log" not in w for w in report["timeline"])


def test_replications_keep_every_replications_events_with_its_index():
    _, report = _run(_faulty(replications=3))
    by_rep = {}
    for e in report["event_log"]:
        by_rep.setdefault(e["replication"], []).append(e["kind"])
    assert sorted(by_rep) == [0, 1, 2]
    assert all(kinds[0] == "instance_down" for kinds in by_rep.values())
    assert "event_log" not in report["ci95"]


def test_a_quiet_run_has_an_empty_log():
    doc = document(
        workload={"target": "web", "rps": 100},
        components={"web": WEB},
        duration_s=5,
        warmup_s=0,
    )
    snapshots, report = _run(doc)
    assert report["event_log"] == []
    assert not any("event_log" in s for s in snapshots)


def test_autoscaling_and_phases_are_logged_with_what_they_changed():
    doc = document(
        workload={"target": "web", "rps": 100, "phases": [{"at_s": 20, "rps": 900}]},
        components={
            "web": {
                **WEB,
                "instances": 2,
                "autoscale": {
                    "min": 2,
                    "max": 8,
                    "target_utilization": 0.6,
                    "check_s": 5,
                    "boot_s": 5,
                    "cooldown_s": 5,
                },
            }
        },
        duration_s=60,
        warmup_s=0,
    )
    _, report = _run(doc)
    phase = [e for e in report["event_log"] if e["kind"] == "phase_changed"]
    assert [(e["t_s"], e["rps"], e["component"]) for e in phase] == [(20.0, 900, None)]
    scaled = [e for e in report["event_log"] if e["kind"] == "autoscaled"]
    assert scaled and all(e["t_s"] > 20 for e in scaled)
    assert max(e["instances"] for e in scaled) > 2
    assert scaled[-1]["instances"] == report["components"]["web"]["instances"]["final"]


def test_every_kind_in_the_golden_reports_is_in_the_vocabulary_and_the_log_is_json():
    seen = set()
    for path in GOLDEN.glob("*.json"):
        report = json.loads(path.read_text())
        seen |= {e["kind"] for e in report["event_log"]}
    assert seen <= set(simengine.EVENT_KINDS)
    # the golden reports exercise most of the vocabulary
    assert len(seen) >= 12, sorted(set(simengine.EVENT_KINDS) - seen)
