"""Live what-if in the engine: injections land at a boundary, log themselves, act on
the system, and a replay of the injected events gives the same report byte for byte.
A run stopped early keeps a partial report; windows that break an objective say so.
"""

from __future__ import annotations

import json

import pytest

import simengine
from simengine.objectives import RECOVER_AFTER_WINDOWS
from simengine.whatif import injected_events
from tests.engine.helpers_engine import document

WEB = {"type": "service", "instances": 3, "cores": 2, "work_ms": 10}


def _doc(**extra):
    return document(
        workload={"target": "lb", "rps": 300},
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
        **extra,
    )


def _feed(plan: dict[float, list[dict]]):
    """Injections at given boundaries of replication 0, as a live run would get."""
    seen = []

    def feed(replication, t_s):
        seen.append((replication, t_s))
        return plan.pop(t_s, []) if replication == 0 else []

    feed.seen = seen
    return feed


def test_a_fault_lands_at_the_boundary_and_is_logged_with_the_injection():
    doc = _doc()
    feed = _feed(
        {
            10.0: [
                {
                    "action": "fault",
                    "component": "web",
                    "instance": 1,
                    "for_s": 5,
                    "by": "alice",
                }
            ]
        }
    )
    report = simengine.simulate(doc, feed=feed)
    kinds = [(e["kind"], e["t_s"]) for e in report["event_log"]]
    assert ("injected", 10.0) in kinds
    assert ("instance_down", 10.0) in kinds
    assert ("instance_up", 15.0) in kinds
    injected = next(e for e in report["event_log"] if e["kind"] == "injected")
    assert injected["injection"] == {
        "action": "fault",
        "component": "web",
        "instance": 1,
        "for_s": 5.0,
        "by": "alice",
    }
    assert "by alice" in injected["text"]
    # asked at every boundary of the run (warm-up included), never past the horizon
    assert feed.seen[0] == (0, 1.0) and all(t < 32.0 for _, t in feed.seen)


def test_a_spike_multiplies_the_offered_rate_for_its_duration_then_ends():
    doc = _doc()
    report = simengine.simulate(
        doc, feed=_feed({10.0: [{"action": "spike", "factor": 3, "for_s": 6}]})
    )
    by_t = {w["t_s"]: w["offered_rps"] for w in report["timeline"]}
    during = [by_t[t] for t in (11.0, 12.0, 13.0, 14.0, 15.0, 16.0)]
    after = [by_t[t] for t in range(18, 31)]
    assert sum(during) / len(during) == pytest.approx(900, rel=0.1)
    assert sum(after) / len(after) == pytest.approx(300, rel=0.1)
    assert [e["kind"] for e in report["event_log"]] == ["injected", "spike_ended"]
    assert report["event_log"][1]["t_s"] == 16.0


def test_a_fault_until_restored_lasts_until_the_restore():
    doc = _doc()
    target = {"component": "web", "instance": 0}
    report = simengine.simulate(
        doc,
        feed=_feed(
            {
                5.0: [{"action": "fault", **target}],
                20.0: [{"action": "restore", **target}],
            }
        ),
    )
    downs = [
        (e["kind"], e["t_s"])
        for e in report["event_log"]
        if e["kind"].startswith("instance")
    ]
    assert downs == [("instance_down", 5.0), ("instance_up", 20.0)]


def test_replaying_the_injected_events_gives_the_same_report_byte_for_byte():
    doc = _doc(replications=2)
    live = _feed(
        {
            8.0: [{"action": "fault", "component": "web", "instance": 2, "for_s": 4}],
            15.0: [{"action": "spike", "factor": 2.5, "for_s": 5, "by": "bob"}],
        }
    )
    original = simengine.simulate(doc, feed=live)
    injected = injected_events(original["event_log"])
    assert len(injected) == 2
    again = simengine.simulate(doc, feed=simengine.replay_feed(injected))
    assert json.dumps(again, sort_keys=True) == json.dumps(original, sort_keys=True)
    plain = simengine.simulate(doc)
    assert plain["requests"] != original["requests"]  # the injections did something


@pytest.mark.parametrize(
    ("raw", "path", "words"),
    [
        (
            {"action": "explode", "component": "web"},
            "injection.action",
            "must be one of",
        ),
        (
            {"action": "fault", "component": "nope"},
            "injection.component",
            "no component 'nope'",
        ),
        (
            {"action": "fault", "component": "web", "instance": 7},
            "injection.instance",
            "instances 0..2",
        ),
        ({"action": "fault"}, "injection.component", "required"),
        ({"action": "spike", "factor": 3}, "injection.for_s", "needs a duration"),
        (
            {"action": "spike", "for_s": 3, "factor": 1000},
            "injection.factor",
            "at most 100",
        ),
        (
            {"action": "spike", "for_s": 3, "factor": 2, "component": "web"},
            "injection.component",
            "no target",
        ),
        (
            {"action": "fault", "component": "web", "for_s": -1},
            "injection.for_s",
            "must be > 0",
        ),
        (
            {"action": "fault", "component": "web", "colour": "red"},
            "injection.colour",
            "",
        ),
        (
            {"action": "fault", "component": "lb", "by": "x" * 151},
            "injection.by",
            "150",
        ),
    ],
)
def test_a_bad_injection_is_refused_naming_its_field(raw, path, words):
    doc = _doc()
    with pytest.raises(simengine.DocumentError) as err:
        simengine.injection_parse(doc, raw)
    paths = [e.path for e in err.value.errors]
    assert path in paths, err.value
    assert words in str(err.value)


def test_a_database_primary_and_a_cache_node_can_be_injected():
    doc = document(
        workload={"target": "web", "rps": 100, "read_ratio": 0.5},
        components={
            "web": {
                "type": "service",
                "instances": 2,
                "cores": 2,
                "work_ms": 2,
                "calls": ["cache"],
            },
            "cache": {
                "type": "cache",
                "capacity_keys": 1000,
                "nodes": 2,
                "backing": "db",
            },
            "db": {
                "type": "database",
                "primary": {"cores": 4, "read_ms": 2, "write_ms": 4},
                "replicas": {"count": 1},
                "failover": {"detect_s": 2, "promote_s": 3},
            },
        },
        duration_s=30,
        warmup_s=1,
    )
    report = simengine.simulate(
        doc,
        feed=_feed(
            {
                5.0: [{"action": "fault", "component": "db", "node": "primary"}],
                6.0: [{"action": "fault", "component": "cache", "node": 1, "for_s": 5}],
            }
        ),
    )
    kinds = [e["kind"] for e in report["event_log"]]
    assert "primary_down" in kinds and "failover_started" in kinds
    assert "cache_node_lost" in kinds and "cache_node_restored" in kinds


def test_a_stopped_run_keeps_a_partial_report_of_what_it_measured():
    doc = _doc()
    snaps = []

    def stop():
        return bool(snaps) and snaps[-1]["t_s"] >= 12.0

    with pytest.raises(simengine.Cancelled) as stopped:
        simengine.simulate(doc, on_snapshot=snaps.append, should_stop=stop)
    partial = stopped.value.partial_report
    assert partial is not None
    assert partial["partial"]["replications_complete"] == 0
    assert 10.0 <= partial["duration_s"] < 12.5
    assert partial["duration_s"] == partial["partial"]["measured_s"]
    assert partial["throughput_rps"] == pytest.approx(300, rel=0.15)
    assert partial["requests"]["offered"] == sum(
        round(w["offered_rps"] * w["window_s"]) for w in partial["timeline"]
    )
    json.dumps(partial, allow_nan=False)


def test_a_run_stopped_in_its_warm_up_has_no_partial_report():
    with pytest.raises(simengine.Cancelled) as stopped:
        simengine.simulate(_doc(), should_stop=lambda: True)
    assert stopped.value.partial_report is None


def test_a_run_stopped_after_a_whole_replication_keeps_the_finished_ones():
    doc = _doc(replications=3)
    snaps = []

    def stop():
        return bool(snaps) and snaps[-1]["replication"] == 1 and snaps[-1]["t_s"] >= 5

    with pytest.raises(simengine.Cancelled) as stopped:
        simengine.simulate(doc, on_snapshot=snaps.append, should_stop=stop)
    partial = stopped.value.partial_report
    assert partial["partial"] == {
        "replications_complete": 1,
        "replications_planned": 3,
        "measured_s": 30.0,
    }
    whole = simengine.run_replication(doc, seed=doc.simulation.seed, replication=0)
    assert partial["throughput_rps"] == whole["throughput_rps"]


def test_windows_that_break_an_objective_are_logged_and_recovery_after_a_few():
    doc = _doc(objectives={"latency_ms": {"p99": 60}})
    report = simengine.simulate(
        doc, feed=_feed({10.0: [{"action": "spike", "factor": 2.4, "for_s": 5}]})
    )
    objective = [e for e in report["event_log"] if e["kind"].startswith("objective")]
    assert objective, report["event_log"]
    first = objective[0]
    assert (
        first["kind"] == "objective_breached" and first["objective"] == "latency_ms.p99"
    )
    assert 10.0 < first["t_s"] <= 16.0 and first["value"] > 60 and first["limit"] == 60
    assert objective[-1]["kind"] == "objective_recovered"
    assert objective[-1]["t_s"] >= 15.0 + RECOVER_AFTER_WINDOWS
    # without the spike the objective holds all along: nothing is logged
    calm = simengine.simulate(doc)
    assert not [e for e in calm["event_log"] if e["kind"].startswith("objective")]


# --- the command line: run --replay -------------------------------------------------


def _write_doc(tmp_path, doc_text: str):
    path = tmp_path / "doc.yaml"
    path.write_text(doc_text)
    return path


DOC_TEXT = """\
scaleboard: 1
name: replayed
simulation: {duration_s: 20, warmup_s: 1, seed: 3, replications: 2}
workload: {target: lb, rps: 200}
components:
  lb: {type: load_balancer, targets: [web]}
  web: {type: service, instances: 2, cores: 1, work_ms: 4}
"""


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_run_replay_gives_the_report_of_the_run_it_replays(tmp_path, capsys, jobs):
    from simengine.cli import main

    path = _write_doc(tmp_path, DOC_TEXT)
    doc = simengine.parse_document(DOC_TEXT)
    live = _feed(
        {5.0: [{"action": "fault", "component": "web", "instance": 0, "for_s": 3}]}
    )
    original = simengine.simulate(doc, feed=live)
    (tmp_path / "report.json").write_text(json.dumps(original))
    assert (
        main(
            [
                "run",
                str(path),
                "--json",
                "--jobs",
                jobs,
                "--replay",
                str(tmp_path / "report.json"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out.strip()
    assert out == json.dumps(original, sort_keys=True)
    # an event list works as well as a report
    (tmp_path / "events.json").write_text(json.dumps(original["event_log"]))
    assert (
        main(["run", str(path), "--json", "--replay", str(tmp_path / "events.json")])
        == 0
    )
    assert capsys.readouterr().out.strip() == out


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("not json", "cannot read"),
        ('{"name": "x"}', "expected a report"),
        (
            '[{"kind": "injected", "t_s": 1.0, "replication": 0, "injection": {"action": "fault", "component": "db"}}]',
            "events[0].injection.component: no component 'db'",
        ),
        (
            '[{"kind": "injected", "replication": 0, "injection": {"action": "spike"}}]',
            "events[0]: an injected event needs t_s",
        ),
    ],
)
def test_run_replay_refuses_a_bad_file_naming_the_event(
    tmp_path, capsys, content, words
):
    from simengine.cli import main

    path = _write_doc(tmp_path, DOC_TEXT)
    (tmp_path / "bad.json").write_text(content)
    assert main(["run", str(path), "--replay", str(tmp_path / "bad.json")]) == 2
    assert words in capsys.readouterr().err
