"""Sweeps and capacity (simengine.sweep, `python -m simengine sweep|capacity`): held
against queueing theory, the same in one process or several, and every bad path,
value or range refused naming it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

import simengine
from simengine.sweep import capacity, sweep, sweep_values, with_value
from simengine.sweep_cli import main as sweep_main
from tests.engine.queueing_theory import mmc_mean_response

MM1 = """\
scaleboard: 1
name: M/M/1 swept
simulation: {duration_s: 4000, warmup_s: 50, seed: 2, snapshot_s: 100}
workload: {target: server, rps: 50, read_ratio: 1.0}
components:
  server: {type: service, cores: 1, work_ms: {dist: exponential, mean: 10}}
"""

MM2 = """\
scaleboard: 1
name: M/M/2 under a mean objective
simulation: {duration_s: 3000, warmup_s: 50, seed: 1, snapshot_s: 100}
workload: {target: server, rps: 100, read_ratio: 1.0}
components:
  server: {type: service, cores: 2, work_ms: {dist: exponential, mean: 10}}
objectives: {latency_ms: {mean: 20}}
"""


def test_an_mm1_sweep_matches_one_over_mu_minus_lambda_at_every_point():
    result = sweep(MM1, "workload.rps", [20, 40, 60, 70])
    assert result["vary"] == "workload.rps"
    assert [p["value"] for p in result["points"]] == [20, 40, 60, 70]
    for point in result["points"]:
        expected = 1000.0 / (100.0 - point["value"])
        assert point["report"]["latency_ms"]["mean"] == pytest.approx(
            expected, rel=0.03
        )
        assert point["report"]["throughput_rps"] == pytest.approx(
            point["value"], rel=0.02
        )


def test_each_points_report_is_what_run_json_prints_for_that_document(tmp_path, capsys):
    short = MM1.replace("duration_s: 4000", "duration_s: 200")
    doc_path = tmp_path / "mm1.yaml"
    doc_path.write_text(short)
    assert (
        sweep_main(
            [
                "sweep",
                str(doc_path),
                "--vary",
                "workload.rps",
                "--values",
                "30,55",
                "--json",
            ]
        )
        == 0
    )
    swept = json.loads(capsys.readouterr().out)
    for point in swept["points"]:
        tree = yaml.safe_load(short)
        tree["workload"]["rps"] = point["value"]
        one = tmp_path / f"at-{point['value']}.yaml"
        one.write_text(yaml.safe_dump(tree))
        out = subprocess.run(
            [sys.executable, "-m", "simengine", "run", str(one), "--json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert json.dumps(point["report"], sort_keys=True) == out.strip()


def test_a_sweep_gives_the_same_points_in_one_process_or_with_jobs():
    short = MM1.replace("duration_s: 4000", "duration_s: 100")
    values = sweep_values(start=10, stop=70, steps=4)
    assert values == [10, 30, 50, 70]
    one = sweep(short, "workload.rps", values)
    many = sweep(short, "workload.rps", values, jobs=2)
    assert json.dumps(one, sort_keys=True) == json.dumps(many, sort_keys=True)


def test_the_capacity_of_an_mm2_under_a_mean_objective_is_the_erlang_c_boundary():
    # Theory: the largest rate with mean response <= 20 ms, by bisection on Erlang C.
    lo, hi = 100.0, 199.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if mmc_mean_response(mid, 100.0, 2) <= 0.020:
            lo = mid
        else:
            hi = mid
    boundary = lo  # 141.4 req/s
    result = capacity(MM2, "workload.rps", resolution=0.01, jobs=2)
    assert result["max_value"] == pytest.approx(boundary, rel=0.01)
    assert result["resolution"] == 0.01
    assert result["limited_by"]["objective"] == "latency_ms.mean"
    assert result["limited_by"]["component"] == "server"
    assert result["limited_by"]["at"] <= result["max_value"] * 1.01 + 1e-9
    met = [p["value"] for p in result["points"] if p["met"]]
    missed = [p["value"] for p in result["points"] if not p["met"]]
    assert max(met) == result["max_value"] and min(missed) == result["limited_by"]["at"]
    for p in result["points"]:
        assert p["report"]["objectives"]["met"] is p["met"]


def test_capacity_over_a_range_that_always_holds_says_so():
    result = capacity(
        MM2.replace("duration_s: 3000", "duration_s: 100"),
        "components.server.cores",
        low=2,
        high=6,
    )
    assert result["max_value"] == 6 and result["limited_by"] is None
    assert "raise --high" in result["note"]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (
            ["sweep", "DOC", "--vary", "workload.rpz", "--values", "1"],
            "workload.rpz: unknown field: did you mean 'rps'?",
        ),
        (
            ["sweep", "DOC", "--vary", "workload..rps", "--values", "1"],
            "--vary: 'workload..rps' is not a field path",
        ),
        (
            ["sweep", "DOC", "--vary", "components.server.cores", "--values", "2.5"],
            "components.server.cores: must be an integer",
        ),
        (
            ["sweep", "DOC", "--vary", "components.server.cores", "--values", "0"],
            "components.server.cores: must be >= 1",
        ),
        (
            ["sweep", "DOC", "--vary", "components.server", "--values", "1"],
            "components.server: is a mapping, not a number",
        ),
        (["sweep", "DOC", "--vary", "name", "--values", "1"], "name:"),
        (
            ["sweep", "DOC", "--vary", "workload.phases[2].rps", "--values", "1"],
            "workload.phases[2] is not there",
        ),
        (
            ["sweep", "DOC", "--vary", "workload.rps", "--values", "1,x"],
            "--values: entry 2 is not a number",
        ),
        (
            ["sweep", "DOC", "--vary", "workload.rps", "--values", "1,inf"],
            "--values: must be finite",
        ),
        (
            ["sweep", "DOC", "--vary", "workload.rps", "--from", "1", "--to", "5"],
            "--from: give --values, or --from, --to and --steps",
        ),
        (
            [
                "sweep",
                "DOC",
                "--vary",
                "workload.rps",
                "--from",
                "1",
                "--to",
                "5",
                "--steps",
                "0",
            ],
            "--steps: must be at least 1",
        ),
        (
            [
                "sweep",
                "DOC",
                "--vary",
                "workload.rps",
                "--from",
                "1",
                "--to",
                "500",
                "--steps",
                "999",
            ],
            "at most 200 points",
        ),
        (
            ["capacity", "DOC", "--vary", "workload.rps", "--low", "9", "--high", "3"],
            "--low: must be below --high",
        ),
        (
            ["capacity", "DOC", "--vary", "workload.rps", "--resolution", "2"],
            "--resolution: must be between 0 and 1",
        ),
        (
            [
                "capacity",
                "DOC",
                "--vary",
                "workload.rps",
                "--low",
                "170",
                "--high",
                "190",
            ],
            "--low: even the low end misses",
        ),
        (
            ["capacity", "NOOBJ", "--vary", "workload.rps"],
            "objectives: the document sets no objectives",
        ),
    ],
)
def test_bad_paths_values_and_ranges_are_refused_naming_them(
    tmp_path, capsys, argv, words
):
    doc = tmp_path / "doc.yaml"
    doc.write_text(MM2.replace("duration_s: 3000", "duration_s: 50"))
    noobj = tmp_path / "noobj.yaml"
    noobj.write_text(MM1.replace("duration_s: 4000", "duration_s: 50"))
    argv = [str(doc) if a == "DOC" else str(noobj) if a == "NOOBJ" else a for a in argv]
    assert sweep_main(argv) == 2
    err = capsys.readouterr().err
    assert words in err, err


def test_with_value_makes_the_mappings_a_default_field_lives_in():
    tree = yaml.safe_load(MM1)
    out = with_value(tree, "network.hop_ms", 2)
    assert out["network"] == {"hop_ms": 2} and "network" not in tree
    doc = simengine.parse_document(out)
    assert doc.network.hop_ms == 2


def test_the_text_table_has_one_row_per_point(tmp_path, capsys):
    doc = tmp_path / "doc.yaml"
    doc.write_text(MM1.replace("duration_s: 4000", "duration_s: 50"))
    assert (
        sweep_main(["sweep", str(doc), "--vary", "workload.rps", "--values", "20,60"])
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "sweep of workload.rps"
    assert lines[2].split()[:3] == ["value", "throughput", "rps"]
    assert [line.split()[0] for line in lines[3:]] == ["20", "60"]
    assert all("server" in line for line in lines[3:])


def test_the_capacity_answer_reads_as_a_sentence(tmp_path, capsys):
    doc = tmp_path / "doc.yaml"
    doc.write_text(MM2.replace("duration_s: 3000", "duration_s: 300"))
    assert (
        sweep_main(
            ["capacity", str(doc), "--vary", "workload.rps", "--resolution", "0.05"]
        )
        == 0
    )
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("workload.rps: up to ")
    assert "latency_ms.mean breaks" in first and "server is the busiest" in first


def test_a_capacity_search_rebuilt_from_its_points_asks_for_the_same_next_round():
    search = simengine.CapacitySearch(
        MM2.replace("duration_s: 3000", "duration_s: 100"), "workload.rps", batch=3
    )
    assert search.next_values() == [search.low, search.high]
    for value in search.next_values():
        search.record(value, simengine.simulate(search.document(value)))
    round2 = search.next_values()
    assert len(round2) == 3 and all(search.low < v < search.high for v in round2)
    again = simengine.CapacitySearch(
        MM2.replace("duration_s: 3000", "duration_s: 100"), "workload.rps", batch=3
    )
    for p in search.points:
        again.record(p["value"], p["report"])
    assert again.next_values() == round2 and not again.done


def test_a_rate_sweep_of_a_document_with_phases_says_the_phases_keep_their_rates(
    tmp_path, capsys
):
    phased = MM1.replace(
        "rps: 50, read_ratio: 1.0}",
        "rps: 50, read_ratio: 1.0, phases: [{at_s: 30, rps: 20}]}",
    ).replace("duration_s: 4000", "duration_s: 60")
    assert "until 30 s" in simengine.phase_warning(phased, "workload.rps")
    assert simengine.phase_warning(MM1, "workload.rps") is None
    assert simengine.phase_warning(phased, "components.server.cores") is None
    doc = tmp_path / "phased.yaml"
    doc.write_text(phased)
    assert (
        sweep_main(
            ["sweep", str(doc), "--vary", "workload.rps", "--values", "30", "--json"]
        )
        == 0
    )
    out = capsys.readouterr()
    assert "keep their own rates" in out.err
    assert set(json.loads(out.out)) == {"vary", "points"}  # the JSON is unchanged
