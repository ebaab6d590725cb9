"""Service-level objectives: the report judges them, the command line gates on them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers_engine import document, document_tree

import simengine
from simengine.cli import EXIT_OBJECTIVES_MISSED, main
from simengine.objectives import error_rate


def objectives_parts(
    objectives: dict[str, Any] | None,
    *,
    rps: float = 500.0,
    queue_limit: int | None = None,
    replications: int = 1,
    faults: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A balancer -> 2 x 4-core web servers (mean 6 ms) tree, with ``objectives``:
    the arguments of ``document`` and ``document_tree``."""
    web: dict[str, Any] = {
        "type": "service",
        "instances": 2,
        "cores": 4,
        "work_ms": {"mean": 6},
    }
    if queue_limit is not None:
        web["queue_limit"] = queue_limit
    return {
        "duration_s": 40,
        "warmup_s": 2,
        "seed": 5,
        "replications": replications,
        "workload": {"target": "lb", "rps": rps, "read_ratio": 1.0},
        "components": {
            "lb": {"type": "load_balancer", "targets": ["web"]},
            "web": web,
        },
        "objectives": objectives,
        "faults": faults,
    }


def objectives_doc(objectives: dict[str, Any] | None, **kw: Any) -> dict[str, Any]:
    """The unparsed tree, for the parser and the command line."""
    return document_tree(**objectives_parts(objectives, **kw))


def run(objectives: dict[str, Any] | None, **kw: Any) -> dict[str, Any]:
    return simengine.simulate(document(**objectives_parts(objectives, **kw)))


def checks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["objective"]: c for c in report["objectives"]["checks"]}


def test_every_objective_is_checked_against_the_reported_figure() -> None:
    report = run(
        {
            "latency_ms": {"mean": 50, "p99": 60},
            "error_rate": 0.01,
            "throughput_rps": 450,
            "utilization": 0.9,
        }
    )
    got = checks(report)
    assert list(got) == [
        "latency_ms.mean",
        "latency_ms.p99",
        "error_rate",
        "throughput_rps",
        "utilization",
    ]
    assert got["latency_ms.p99"]["value"] == report["latency_ms"]["p99"]
    assert got["latency_ms.mean"]["value"] == report["latency_ms"]["mean"]
    assert got["throughput_rps"]["value"] == report["throughput_rps"]
    assert got["throughput_rps"]["bound"] == "min"
    busiest = max(
        report["components"],
        key=lambda c: report["components"][c]["utilization"] or 0.0,
    )
    assert got["utilization"]["component"] == busiest == "web"
    assert got["utilization"]["value"] == report["components"]["web"]["utilization"]
    # 500 rps on 8 cores of 6 ms: 37.5% busy, a few ms of latency, no errors
    assert all(c["met"] for c in got.values())
    assert report["objectives"]["met"] is True


def test_a_missed_objective_is_reported_with_its_figure() -> None:
    report = run({"latency_ms": {"p99": 5}, "throughput_rps": 900})
    got = checks(report)
    assert report["latency_ms"]["p99"] > 5
    assert got["latency_ms.p99"]["met"] is False
    assert got["throughput_rps"]["met"] is False  # only 500 rps are offered
    assert report["objectives"]["met"] is False


def test_the_error_rate_counts_rejections_errors_and_timeouts() -> None:
    # 1,500 rps on 8 cores of 6 ms is 112% of capacity: the queue limit refuses
    report = run({"error_rate": 0.01}, rps=1500, queue_limit=5)
    req = report["requests"]
    assert req["rejected"] > 0
    expected = (req["errors"] + req["timeouts"] + req["rejected"]) / req["offered"]
    assert checks(report)["error_rate"]["value"] == pytest.approx(expected)
    assert error_rate(report) == pytest.approx(expected)
    assert checks(report)["error_rate"]["met"] is False


def test_replications_judge_the_means_and_show_the_interval() -> None:
    report = run({"latency_ms": {"p99": 60}, "utilization": 0.9}, replications=3)
    got = checks(report)
    assert got["latency_ms.p99"]["value"] == pytest.approx(report["latency_ms"]["p99"])
    assert got["latency_ms.p99"]["ci95"] == report["ci95"]["latency_ms.p99"]
    assert got["utilization"]["ci95"] == report["ci95"]["components.web.utilization"]
    lo, hi = got["latency_ms.p99"]["ci95"]
    assert lo <= got["latency_ms.p99"]["value"] <= hi


def test_no_completed_request_means_a_latency_objective_cannot_be_met() -> None:
    report = run(
        {"latency_ms": {"p50": 1000}},
        faults=[{"at_s": 0, "component": "web"}],  # every instance, for good
    )
    assert report["requests"]["completed"] == 0
    check = checks(report)["latency_ms.p50"]
    assert check["value"] is None and check["met"] is False


def test_a_document_without_objectives_has_no_objectives_section() -> None:
    assert "objectives" not in run(None)


@pytest.mark.parametrize(
    ("objectives", "message"),
    [
        ({"error_rate": 2}, "objectives.error_rate: must be <= 1 (got 2)"),
        ({"latency_ms": {"p99": 0}}, "objectives.latency_ms.p99: must be > 0"),
        ({"latency_ms": {"p99": "5"}}, "objectives.latency_ms.p99: must be a number"),
        ({"latency_ms": {"p999": 5}}, "objectives.latency_ms.p999"),
        ({"utilisation": 0.8}, "objectives.utilisation"),
    ],
)
def test_bad_objectives_name_their_field(objectives: Any, message: str) -> None:
    with pytest.raises(simengine.DocumentError) as err:
        simengine.parse_document(objectives_doc(objectives))
    assert message in str(err.value)


def test_the_command_line_exits_3_when_an_objective_is_missed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    met = tmp_path / "met.json"
    met.write_text(json.dumps(objectives_doc({"latency_ms": {"p99": 60}})))
    assert main(["run", str(met)]) == 0
    out = capsys.readouterr().out
    assert "objectives: 1 of 1 met" in out
    assert "ok    latency_ms.p99 <= 60.00 ms" in out

    missed = tmp_path / "missed.json"
    missed.write_text(json.dumps(objectives_doc({"latency_ms": {"p99": 5}})))
    assert main(["run", str(missed)]) == EXIT_OBJECTIVES_MISSED == 3
    captured = capsys.readouterr()
    assert "MISS  latency_ms.p99 <= 5.00 ms" in captured.out
    assert "objectives missed: latency_ms.p99" in captured.err
    # --json prints the whole report and still gates the exit status
    assert main(["run", str(missed), "--json"]) == 3
    report = json.loads(capsys.readouterr().out)
    assert report["objectives"]["met"] is False


def test_the_schema_documents_the_objectives_and_they_default_to_none() -> None:
    schema = simengine.document_schema()
    assert "objectives" in schema["properties"]
    defs = schema["$defs"]
    assert defs["Objectives"]["properties"]["error_rate"]["description"]
    doc = document(
        workload={"target": "svc", "rps": 10},
        components={"svc": {"type": "service"}},
        duration_s=1,
        warmup_s=0,
    )
    assert doc.objectives is None
