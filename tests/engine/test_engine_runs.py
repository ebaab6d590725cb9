"""Runs as a caller sees them: reports, snapshots, replications, cancelling, the
workload and service features, warnings, the command line and import isolation."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers_engine import balanced_doc, document, example_document, rel, service_doc

import simengine
from simengine import (
    SNAPSHOT_KEYS,
    SNAPSHOT_VERSION,
    Cancelled,
    combine_reports,
    run_replication,
    simulate,
)
from simengine.cli import main
from simengine.variates import zipf_keys

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

REPORT_KEYS = {
    "requests", "throughput_rps", "latency_ms", "components", "bottleneck",
    "timeline", "warnings", "seed", "replications", "format", "engine_version",
}  # fmt: skip


def web_tier(**simulation: object) -> simengine.Document:
    return example_document(
        EXAMPLES / "web-tier.yaml",
        **{"duration_s": 20, "warmup_s": 2, "snapshot_s": 1, **simulation},
    )


def test_the_report_has_the_spec_keys_and_plain_json_types() -> None:
    report = simulate(web_tier())
    assert set(report) >= REPORT_KEYS
    assert set(report["requests"]) >= {
        "offered", "completed", "errors", "timeouts", "rejected",
    }  # fmt: skip
    assert set(report["latency_ms"]) == {"mean", "p50", "p90", "p95", "p99", "max"}
    for cid, kind in (("lb", "load_balancer"), ("web", "service"), ("db", "database")):
        comp = report["components"][cid]
        assert comp["type"] == kind
        assert {"utilization", "throughput_rps", "queue_mean", "latency_ms"} <= set(
            comp
        )
    db = report["components"]["db"]
    assert {"replication_lag_ms", "stale_reads", "lost_writes", "conflicts", "nodes",
            "shards", "keys_moved"} <= set(db)  # fmt: skip
    assert set(report["components"]["lb"]["share"]) == {"web-0", "web-1", "web-2"}
    assert set(report["bottleneck"]) == {"component", "utilization", "advice"}
    assert len(report["timeline"]) == 20
    entry = report["timeline"][0]
    # a timeline entry is a measured snapshot without its stream fields
    stream_fields = {"version", "seq", "replication", "warmup", "progress"}
    assert set(entry) == set(SNAPSHOT_KEYS) - stream_fields
    assert report["format"] == 1 and report["replications"] == 1
    # plain types only: the json module round-trips it exactly
    assert json.loads(json.dumps(report)) == report


def _assert_plain(value: object, where: str = "") -> None:
    """Only exact JSON types: no numpy scalars (a float64 is a float subclass)."""
    kind = type(value)
    assert kind in (dict, list, str, int, float, bool, type(None)), (where, kind)
    if kind is dict:
        for k, v in value.items():  # type: ignore[attr-defined]
            assert type(k) is str
            _assert_plain(v, f"{where}.{k}")
    elif kind is list:
        for i, v in enumerate(value):  # type: ignore[arg-type]
            _assert_plain(v, f"{where}[{i}]")
    elif kind is float:
        assert math.isfinite(value), where  # type: ignore[arg-type]


def test_reports_and_snapshots_hold_only_plain_python_types() -> None:
    snaps: list[dict] = []
    report = simulate(web_tier(replications=2), on_snapshot=snaps.append)
    _assert_plain(report)
    for snap in snaps:
        _assert_plain(snap)


def test_same_seed_gives_a_byte_identical_report() -> None:
    doc = web_tier()
    a = json.dumps(simulate(doc, seed=5), sort_keys=True)
    b = json.dumps(simulate(doc, seed=5), sort_keys=True)
    c = json.dumps(simulate(doc, seed=6), sort_keys=True)
    assert a == b
    assert a != c


def test_snapshots_stream_every_window_with_sequence_numbers() -> None:
    doc = web_tier(replications=2)
    snaps: list[dict] = []
    report = simulate(doc, on_snapshot=snaps.append)
    assert [s["seq"] for s in snaps] == list(range(len(snaps)))
    assert len(snaps) == 2 * 22  # 2 warm-up + 20 measured windows, twice
    assert [s["replication"] for s in snaps] == [0] * 22 + [1] * 22
    assert [s["warmup"] for s in snaps[:3]] == [True, True, False]
    progress = [s["progress"] for s in snaps]
    assert progress == sorted(progress) and progress[-1] == 1.0
    for snap in snaps:
        json.dumps(snap)
        assert list(snap) == list(SNAPSHOT_KEYS)  # the contract, and nothing else
        assert snap["version"] == SNAPSHOT_VERSION
        assert set(snap["components"]) == {"lb", "web", "db"}
        assert 0.0 <= snap["components"]["web"]["utilization"] <= 1.0
    # the measured snapshots are the report's timeline (first replication's)
    first = [s for s in snaps if s["replication"] == 0 and not s["warmup"]]
    single = run_replication(doc, seed=doc.simulation.seed, replication=0)
    assert [s["t_s"] for s in first] == [t["t_s"] for t in single["timeline"]]
    assert report["replications"] == 2


def test_a_run_can_be_iterated_while_it_goes() -> None:
    doc = web_tier(replications=2)
    by_callback: list[dict] = []
    expected = simulate(doc, on_snapshot=by_callback.append)
    run = simengine.stream(doc)
    assert run.report is None
    seen = []
    for snap in run:
        seen.append(snap)
        if len(seen) == 1:
            assert run.report is None  # the simulation advances as we iterate
    assert seen == by_callback
    assert json.dumps(run.report, sort_keys=True) == json.dumps(
        expected, sort_keys=True
    )


def test_breaking_out_of_a_stream_stops_the_run_without_a_report() -> None:
    run = simengine.stream(web_tier(duration_s=600))
    for snap in run:
        if snap["seq"] == 3:
            break
    assert run.report is None


def test_should_stop_cancels_promptly_even_with_long_snapshot_intervals() -> None:
    doc = web_tier(duration_s=600, snapshot_s=600)
    calls = {"n": 0}

    def should_stop() -> bool:
        calls["n"] += 1
        return calls["n"] >= 3

    with pytest.raises(Cancelled):
        run_replication(doc, seed=1, should_stop=should_stop)
    assert calls["n"] == 3  # polled inside the one long window


def test_replications_give_means_and_student_t_intervals() -> None:
    doc = web_tier(replications=4)
    combined = simulate(doc)
    singles = [
        run_replication(doc, seed=doc.simulation.seed, replication=r) for r in range(4)
    ]
    assert combine_reports(singles) == combined
    assert combine_reports(singles[:1]) == singles[0]
    means = [r["latency_ms"]["mean"] for r in singles]
    mean = sum(means) / 4
    assert math.isclose(combined["latency_ms"]["mean"], mean)
    sd = (sum((m - mean) ** 2 for m in means) / 3) ** 0.5
    low, high = combined["ci95"]["latency_ms.mean"]
    assert math.isclose(high - mean, 3.182 * sd / 2, rel_tol=1e-9)
    assert math.isclose(mean - low, 3.182 * sd / 2, rel_tol=1e-9)
    assert "components.web.utilization" in combined["ci95"]
    assert combined["replications"] == 4


def test_phases_change_the_arrival_rate() -> None:
    doc = document(
        duration_s=60,
        warmup_s=0,
        seed=0,
        snapshot_s=10,
        workload={
            "target": "svc",
            "rps": 100,
            "phases": [{"at_s": 20, "rps": 400}, {"at_s": 40, "rps": 0}],
        },
        components={"svc": {"type": "service", "cores": 8, "work_ms": 1}},
    )
    rates = [w["rps"] for w in run_replication(doc, seed=1)["timeline"]]
    assert all(rel(r, 100) < 0.15 for r in rates[:2])
    assert all(rel(r, 400) < 0.1 for r in rates[2:4])
    assert rates[4:] == [0.0, 0.0] or max(rates[4:]) < 1


def test_constant_and_bursty_arrivals_keep_the_mean_rate() -> None:
    for arrivals, extra in (
        ("constant", {}),
        ("bursty", {"bursty": {"on_s": 2, "off_s": 6, "factor": 3}}),
    ):
        doc = document(
            duration_s=400,
            warmup_s=0,
            seed=0,
            snapshot_s=2,
            workload={
                "target": "svc",
                "rps": 100,
                "arrivals": arrivals,
                **extra,
            },
            components={"svc": {"type": "service", "cores": 8, "work_ms": 1}},
        )
        report = run_replication(doc, seed=1)
        assert rel(report["requests"]["offered"] / 400, 100) < 0.03, arrivals
        rates = [w["rps"] for w in report["timeline"]]
        if arrivals == "constant":
            assert max(rates) - min(rates) <= 1.0
        else:
            # 2 s at 300 rps, then 6 s at 33 rps
            assert rel(rates[0], 300) < 0.15 and rates[1] < 60


def test_client_timeouts_are_counted_when_the_client_gives_up() -> None:
    doc = service_doc(
        rps=120,
        cores=1,
        requests=12_000,
        workload={"timeout_ms": 500},
        snapshot_s=1,
        warmup_s=0,
    )  # 120% load: the queue grows without bound
    report = run_replication(doc, seed=1)
    req = report["requests"]
    assert req["timeouts"] > 0.1 * req["offered"]
    assert report["latency_ms"]["max"] <= 500
    assert any("saturated" in w for w in report["warnings"])


def test_cross_region_calls_add_their_latency() -> None:
    def mean_ms(region: str) -> float:
        doc = document(
            duration_s=50,
            warmup_s=0,
            seed=0,
            workload={
                "target": "web",
                "rps": 50,
                "regions": {"us": 0.5, "eu": 0.5},
            },
            network={"hop_ms": 1, "cross_region_ms": 70},
            components={
                "web": {
                    "type": "service",
                    "cores": 8,
                    "work_ms": 2,
                    "region": "us",
                    "calls": ["db"],
                },
                "db": {
                    "type": "database",
                    "region": region,
                    "primary": {"read_ms": 3, "write_ms": 3},
                },
            },
        )
        return run_replication(doc, seed=1)["latency_ms"]["mean"]

    # half the clients cross to us (70 ms), then web -> db: hop 1 (+70 if eu)
    assert abs(mean_ms("us") - (0.5 * 70 + 1 + 2 + 1 + 3)) < 2.0
    assert abs(mean_ms("eu") - (0.5 * 70 + 1 + 2 + 71 + 3)) < 2.0


def test_autoscaling_adds_instances_under_load_and_reports_them_over_time() -> None:
    doc = simengine.parse_document((EXAMPLES / "autoscale.yaml").read_text())
    report = run_replication(doc, seed=1)
    web = report["components"]["web"]
    assert web["instances"]["initial"] == 2
    assert web["instances"]["max"] > 4
    assert web["instances"]["final"] == 2
    times = [t for t, _ in web["instances"]["over_time"]]
    assert times == sorted(times)
    counts = [w["components"]["web"]["instances"] for w in report["timeline"]]
    assert max(counts) == web["instances"]["max"]


def test_a_stateful_instance_loses_its_sessions_when_it_dies() -> None:
    doc = balanced_doc(
        rps=200,
        requests=200 * 20,
        algorithm="ip_hash",
        instances=4,
        web={"stateful": True},
        workload={"clients": 400},
        faults=[{"at_s": 10, "component": "web", "instance": 2}],
        warmup_s=0,
    )
    web = run_replication(doc, seed=1)["components"]["web"]
    # ip_hash pins about a quarter of the 400 clients on web-2
    assert 60 < web["sessions_lost"] < 140


def test_database_bottleneck_advice_speaks_of_reads_and_replicas() -> None:
    doc = document(
        duration_s=60,
        warmup_s=0,
        seed=0,
        workload={"target": "web", "rps": 900, "read_ratio": 0.9},
        components={
            "web": {
                "type": "service",
                "instances": 4,
                "cores": 8,
                "work_ms": 2,
                "calls": ["db"],
            },
            "db": {
                "type": "database",
                "primary": {"cores": 8, "read_ms": 8, "write_ms": 10},
            },
        },
    )
    neck = run_replication(doc, seed=1)["bottleneck"]
    assert neck["component"] == "db"
    assert neck["advice"].startswith("db is the bottleneck: db primary at 9")
    assert "of its work is reads; it saturates near" in neck["advice"]
    assert "read replicas or a cache (database replication, caching)" in neck["advice"]


def test_short_runs_at_high_load_warn_that_the_tail_is_understated() -> None:
    short = run_replication(service_doc(rps=380, cores=4, requests=10_000), seed=1)
    assert any("run too short" in w for w in short["warnings"])
    long = run_replication(service_doc(rps=200, cores=4, requests=20_000), seed=1)
    assert not any("run too short" in w for w in long["warnings"])


def test_part_two_sections_are_accepted_with_a_warning() -> None:
    doc = document(
        duration_s=5,
        warmup_s=0,
        seed=0,
        workload={
            "target": "cache",
            "rps": 50,
            "keys": {"count": 1000, "zipf_s": 1.1},
        },
        components={
            "cache": {"type": "cache", "backing": "db", "ttl_s": 30},
            "db": {
                "type": "database",
                "replicas": {"count": 2},
                "shards": {"count": 4},
            },
        },
    )
    report = run_replication(doc, seed=1)
    text = " ".join(report["warnings"])
    # caches, replicas and shards are simulated (engine part 2)
    assert "not simulated yet" not in text
    assert len(report["components"]["db"]["shards"]) == 4
    assert "caches are not simulated" not in text  # they are (engine part 2)
    assert report["components"]["cache"]["hit_ratio"] > 0.3


def test_the_event_budget_stops_a_run() -> None:
    doc = web_tier()
    with pytest.raises(simengine.BudgetExceeded):
        run_replication(doc, seed=1, limits=simengine.Limits(max_events=20_000))


def test_zipf_keys_follow_their_law_and_stay_in_range() -> None:
    rng = np.random.default_rng(3)
    n, s = 1000, 0.99
    draw = zipf_keys(rng, n, s)
    keys = np.array([draw() for _ in range(200_000)])
    assert keys.min() >= 0 and keys.max() < n
    weights = 1 / np.arange(1, n + 1) ** s
    weights /= weights.sum()
    freq = np.bincount(keys, minlength=n) / keys.size
    assert np.all(np.abs(freq[:10] - weights[:10]) < 0.004)
    shuffled = zipf_keys(np.random.default_rng(3), n, s, shuffle=True)
    top = np.bincount([shuffled() for _ in range(50_000)], minlength=n).argmax()
    assert top != 0


def test_a_key_stream_can_be_dropped_in_another_context() -> None:
    """A run started in one context (a worker's thread) may be collected in another
    (an event loop's): the key stream must not hold numpy's errstate across a draw.
    Before the fix, closing it raised "was created in a different Context"."""
    import contextvars
    import gc

    from simengine.variates import _zipf_blocks

    blocks = _zipf_blocks(np.random.default_rng(1), 1000, 0.99)
    next(blocks)
    raised: list[BaseException] = []
    hook, sys.unraisablehook = sys.unraisablehook, lambda u: raised.append(u.exc_value)
    try:
        contextvars.copy_context().run(blocks.close)
        del blocks
        gc.collect()
    finally:
        sys.unraisablehook = hook
    assert raised == []


def test_cli_schema_validate_and_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["type"] == "object"
    assert main(["validate", str(EXAMPLES / "mm4.yaml")]) == 0
    assert "valid" in capsys.readouterr().out
    assert main(["run", str(EXAMPLES / "web-tier.yaml"), "--json", "--seed", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["seed"] == 3
    assert main(["run", str(EXAMPLES / "web-tier.yaml")]) == 0
    out = capsys.readouterr().out
    assert "busiest: web at " in out and "advice: " in out and "latency ms" in out


def test_cli_refuses_a_bad_document_with_exit_2_and_field_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("scaleboard: 1\nworkload: {target: x, rps: -1}\ncomponents: {}\n")
    assert main(["run", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "workload.rps: must be >= 0 (got -1)" in err
    assert main(["validate", str(tmp_path / "missing.yaml")]) == 2


@pytest.mark.slow
def test_every_example_runs_through_the_command_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for path in sorted(EXAMPLES.glob("*.yaml")):
        assert main(["run", str(path), "--json"]) == 0, path
        report = json.loads(capsys.readouterr().out)
        assert report["requests"]["completed"] > 0, path


def test_importing_simengine_does_not_import_django() -> None:
    code = (
        "import sys, simengine, simengine.cli, simengine.runtime\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('django', 'dashboard', 'channels', 'celery')]\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_json_run_imports_neither_yaml_nor_multiprocessing(tmp_path: Path) -> None:
    """Start-up is most of a short command's cost: PyYAML is imported for YAML text
    only and the process pool for --jobs only (and both still work)."""
    text = (
        "scaleboard: 1\n"
        "simulation: {duration_s: 20, snapshot_s: 5, replications: 2}\n"
        "workload: {target: server, rps: 50}\n"
        "components: {server: {type: service, work_ms: 10}}\n"
    )
    (tmp_path / "doc.yaml").write_text(text)
    (tmp_path / "doc.json").write_text(json.dumps(simengine.load_document_tree(text)))
    code = (
        "import sys\n"
        "from simengine.cli import main\n"
        "assert main(['run', 'doc.json', '--json']) == 0\n"
        "late = [m for m in ('yaml', 'concurrent.futures', 'multiprocessing') "
        "if m in sys.modules]\n"
        "print(late, file=sys.stderr)\n"
        "sys.exit(1 if late else 0)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
        text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    reports = {}
    for name, jobs in (("doc.json", "1"), ("doc.yaml", "2")):
        run = subprocess.run(
            [sys.executable, "-m", "simengine", "run", name, "--json", "--jobs", jobs],
            cwd=tmp_path, env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        reports[name] = json.loads(run.stdout)
    assert reports["doc.json"] == reports["doc.yaml"]
    low, high = reports["doc.yaml"]["ci95"]["requests.completed"]
    assert low <= reports["doc.yaml"]["requests"]["completed"] <= high


def test_a_database_primary_fault_fails_its_queries_until_it_recovers() -> None:
    doc = document(
        duration_s=30,
        warmup_s=0,
        seed=0,
        snapshot_s=1,
        workload={"target": "web", "rps": 200},
        components={
            "web": {"type": "service", "cores": 8, "work_ms": 1, "calls": ["db"]},
            "db": {"type": "database", "primary": {"read_ms": 2, "write_ms": 4}},
        },
        faults=[{"at_s": 10, "component": "db", "node": "primary", "for_s": 5}],
    )
    report = run_replication(doc, seed=1)
    assert rel(report["requests"]["errors"], 200 * 5) < 0.1
    failing = [w["t_s"] for w in report["timeline"] if w["errors"]]
    assert min(failing) > 10 and max(failing) <= 15.5
    # the primary's utilization counts only the time it was up
    assert report["components"]["db"]["utilization"] > 0


def test_a_document_round_trips_through_model_dump() -> None:
    for path in sorted(EXAMPLES.glob("*.yaml")):
        doc = simengine.parse_document(path.read_text())
        again = simengine.parse_document(doc.model_dump(mode="json"))
        assert again == doc, path
        json.dumps(doc.model_dump(mode="json"))


def test_runs_enforce_the_event_budget_the_document_was_parsed_with() -> None:
    # Few requests (the up-front estimate passes) but many health-check events: 200
    # dead instances probed ten times a second.
    source = {
        "duration_s": 10,
        "warmup_s": 0,
        "seed": 0,
        "workload": {"target": "lb", "rps": 10},
        "components": {
            "lb": {
                "type": "load_balancer",
                "targets": ["web"],
                "health_check": {"interval_s": 0.1, "timeout_ms": 50},
            },
            "web": {"type": "service", "instances": 200},
        },
        "faults": [{"at_s": 0, "component": "web"}],
    }
    tight = simengine.Limits(max_events=20_000)
    doc = document(**source, limits=tight)
    assert doc.limits == tight
    with pytest.raises(simengine.BudgetExceeded):
        simulate(doc)
    # with the default limits it runs to the end
    assert simulate(document(**source))["requests"]["errors"] > 0
    assert document(**source) == document(**source)


def test_concurrent_runs_in_one_process_do_not_interfere() -> None:
    from concurrent.futures import ThreadPoolExecutor

    doc = web_tier(duration_s=5)
    alone = [json.dumps(simulate(doc, seed=s), sort_keys=True) for s in (1, 2, 3)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        together = list(
            pool.map(
                lambda s: json.dumps(simulate(doc, seed=s), sort_keys=True), (1, 2, 3)
            )
        )
    assert together == alone


def test_cli_estimate_prints_the_bottleneck_as_text_and_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = str(EXAMPLES / "case-study-step2.yaml")
    assert main(["estimate", path]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Estimate")
    assert "bottleneck: app" in text
    assert main(["estimate", path, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["bottleneck"]["component"] == "app"
    assert main(["estimate", "/nonexistent.yaml"]) == 2


def test_the_calendar_runs_plain_simpy_processes_and_raises_their_failures() -> None:
    """Calendar entries carry their handler; SimPy's own events still work through
    ``schedule`` and ``step`` (timeouts, events, processes, ``run(until)``)."""
    from simengine.runtime.eventcalendar import Calendar

    env = Calendar()
    log: list = []

    def child(env, ev):
        yield env.timeout(2)
        ev.succeed("done")

    def parent(env):
        yield env.timeout(1)
        log.append(env.now)
        ev = env.event()
        env.process(child(env, ev))
        log.append((yield ev))
        log.append(env.now)

    env.process(parent(env))
    env.run(until=10)
    assert log == [1, "done", 3] and env.now == 10

    def broken(env):
        yield env.timeout(1)
        raise RuntimeError("boom")

    env.process(broken(env))
    with pytest.raises(RuntimeError, match="boom"):
        env.run()


def test_replications_in_processes_give_the_same_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from simengine.runner import simulate_in_processes

    doc = web_tier(replications=3)
    done: list[tuple[int, int]] = []
    parallel = simulate_in_processes(
        doc, jobs=2, on_replication=lambda d, n: done.append((d, n))
    )
    assert json.dumps(parallel, sort_keys=True) == json.dumps(
        simulate(doc), sort_keys=True
    )
    assert sorted(done) == [(1, 3), (2, 3), (3, 3)]
    # the command line: --jobs 2 prints the same JSON as one process does
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc.model_dump(mode="json", exclude_unset=True)))
    assert main(["run", str(path), "--json"]) == 0
    one = capsys.readouterr().out
    assert main(["run", str(path), "--json", "--jobs", "2"]) == 0
    assert capsys.readouterr().out == one


def test_a_failure_in_a_replication_process_is_raised_here() -> None:
    from simengine.runner import simulate_in_processes

    doc = web_tier(replications=2)
    with pytest.raises(simengine.BudgetExceeded):
        simulate_in_processes(doc, jobs=2, limits=simengine.Limits(max_events=5_000))
