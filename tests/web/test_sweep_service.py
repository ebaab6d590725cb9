"""Sweeps as the services and the workers drive them, without Celery: every point a
run (its replications as parts), progress through `run_finished`, a capacity search
in rounds, failures, cancels, limits, and a duplicated signal.

Runs are executed here by `execution.run_execute` / `part_execute`, as a worker's
task calls them; the real-worker version is test_sweep_workers.py.
"""

from __future__ import annotations

import json

import pytest

import simengine
from dashboard.runs import execution
from dashboard.runs.models import Run, RunPart
from dashboard.runs.services import run_create, run_document_parse
from dashboard.runs.signals import run_finished
from dashboard.scenarios.services import scenario_create, scenario_version_create
from dashboard.sweeps import answers, services
from dashboard.sweeps.models import Sweep, SweepPoint
from dashboard.sweeps.services import SweepError, SweepLimitExceeded, sweep_create
from simengine.sweep import capacity  # the CLI's search, in this process
from tests.web.sweep_helpers import SWEEP_DOC, capture_runs, drain

pytestmark = pytest.mark.django_db(transaction=True)

DOC = SWEEP_DOC
TWO = DOC.replace("seed: 7,", "seed: 7, replications: 2,")


@pytest.fixture(autouse=True)
def queued(monkeypatch) -> list:
    return capture_runs(monkeypatch)


def _json(value):
    return json.loads(json.dumps(value))


@pytest.fixture
def scenario(alice):
    return scenario_create(owner=alice, text=TWO)


def _sweep(alice, scenario, **kwargs) -> Sweep:
    return sweep_create(
        owner=alice, scenario=scenario, version=scenario.latest_version, **kwargs
    )


def test_every_point_of_a_sweep_is_a_fanned_run_whose_report_is_simulate_s(
    alice, scenario, queued
):
    sweep = _sweep(alice, scenario, kind="sweep", vary="workload.rps",
                   values=[100, 250, 400])  # fmt: skip
    assert sweep.status == Sweep.Status.QUEUED
    points = list(sweep.points.order_by("value"))
    assert [p.value for p in points] == [100, 250, 400]
    # Each point's replications are parts, one task each.
    assert all(RunPart.objects.filter(run=p.run).count() == 2 for p in points)
    assert len(queued) == 3
    drain(queued)
    sweep.refresh_from_db()
    assert sweep.status == Sweep.Status.SUCCEEDED, sweep.error
    tree = simengine.load_document_tree(TWO)
    for point in sweep.points.select_related("run"):
        expected = _json(
            simengine.simulate(
                simengine.point_document(tree, "workload.rps", point.value)
            )
        )
        assert point.run.status == Run.Status.SUCCEEDED
        assert point.run.report == expected
        assert point.recorded and point.status == "succeeded"
        assert point.figures["throughput_rps"] == expected["throughput_rps"]
        assert point.figures["p99_ms"] == expected["latency_ms"]["p99"]
        assert point.figures["p99_ci"] == expected["ci95"]["latency_ms.p99"]
        assert point.figures["busiest"] == "web"
        assert point.met == expected["objectives"]["met"]
    # The saturated end misses p99 <= 60 ms, the light end holds it.
    met = dict(sweep.points.values_list("value", "met"))
    assert met[100] is True and met[400] is False


def test_from_to_steps_and_integer_fields(alice, scenario, queued):
    sweep = _sweep(alice, scenario, kind="sweep",
                   vary="components.web.instances", start=1, stop=3, steps=3)  # fmt: skip
    assert sorted(sweep.points.values_list("value", flat=True)) == [1, 2, 3]
    run = sweep.points.get(value=2).run
    assert (
        simengine.load_document_tree(run.document_text)["components"]["web"][
            "instances"
        ]
        == 2
    )


def test_capacity_equals_simengine_capacity_with_the_same_batch(
    alice, alice_client, queued
):
    scenario = scenario_create(owner=alice, text=DOC)
    sweep = _sweep(alice, scenario, kind="capacity", vary="workload.rps",
                   resolution=0.02)  # fmt: skip
    assert sweep.points.count() == 2  # the bracket first
    drain(queued)
    sweep.refresh_from_db()
    assert sweep.status == Sweep.Status.SUCCEEDED, sweep.error
    local = capacity(DOC, "workload.rps", resolution=0.02, jobs=services.BATCH)
    mine = sweep.result["a"]
    assert mine["max_value"] == local["max_value"]
    assert mine["limited_by"] == _json(local["limited_by"])
    assert [(p["value"], p["met"]) for p in mine["points"]] == [
        (p["value"], p["met"]) for p in local["points"]
    ]
    assert sweep.points.count() == len(local["points"])
    assert max(sweep.points.values_list("round", flat=True)) >= 2
    assert "within latency_ms.p99 <= 60 ms" in mine["answer"]
    assert "web" in mine["answer"]
    top = answers.number_text(local["max_value"])
    assert mine["answer"].startswith(f"up to {top} req/s within")


def test_an_a_b_capacity_search_says_by_how_much_the_change_raised_capacity(
    alice, queued
):
    # A third web server: each search as the CLI's, and the page's comparison line
    # says the capacity rose by about half (2 to 3 servers, the same bottleneck)
    from dashboard.sweeps.selectors import sweep_data

    scenario = scenario_create(owner=alice, text=DOC)
    v1 = scenario.latest_version
    three = DOC.replace("instances: 2", "instances: 3")
    v2 = scenario_version_create(
        scenario=scenario, text=three, author=alice, message="three"
    )
    sweep = sweep_create(owner=alice, scenario=scenario, version=v2,
                         compare_version=v1, kind="capacity", vary="workload.rps",
                         resolution=0.02)  # fmt: skip
    drain(queued)
    sweep.refresh_from_db()
    assert sweep.status == Sweep.Status.SUCCEEDED, sweep.error
    for s, text in (("a", three), ("b", DOC)):
        local = capacity(text, "workload.rps", resolution=0.02, jobs=services.BATCH)
        assert sweep.result[s]["max_value"] == local["max_value"]
    a, b = sweep.result["a"]["max_value"], sweep.result["b"]["max_value"]
    assert 1.3 < a / b < 1.7, (a, b)
    line = sweep_data(sweep=sweep, run_url=str)["comparison"]
    assert line == (
        f"version 2 against version 1: raises capacity by {(a - b) / b:.0%}, from "
        f"{answers.number_text(b)} req/s to {answers.number_text(a)} req/s; "
        "web limits both"
    )


def test_a_sweep_or_a_single_capacity_search_has_no_comparison_line(alice, queued):
    from dashboard.sweeps.selectors import sweep_data

    scenario = scenario_create(owner=alice, text=DOC)
    sweep = _sweep(alice, scenario, kind="capacity", vary="workload.rps",
                   resolution=0.05)  # fmt: skip
    drain(queued)
    sweep.refresh_from_db()
    assert sweep.status == Sweep.Status.SUCCEEDED, sweep.error
    assert sweep_data(sweep=sweep, run_url=str)["comparison"] == ""


def test_a_b_sweep_runs_every_value_on_both_versions(alice, scenario, queued):
    v1 = scenario.latest_version
    v2 = scenario_version_create(
        scenario=scenario,
        text=TWO.replace("instances: 2", "instances: 3"),
        author=alice,
        message="three",
    )
    sweep = sweep_create(owner=alice, scenario=scenario, version=v1,
                         compare_version=v2, kind="sweep", vary="workload.rps",
                         values=[200, 400])  # fmt: skip
    assert sorted(sweep.points.values_list("series", "value")) == [
        ("a", 200), ("a", 400), ("b", 200), ("b", 400),
    ]  # fmt: skip
    drain(queued)
    sweep.refresh_from_db()
    assert sweep.status == Sweep.Status.SUCCEEDED
    a = sweep.points.get(series="a", value=400)
    b = sweep.points.get(series="b", value=400)
    assert b.run.version == v2 and a.run.version == v1
    assert b.figures["p99_ms"] < a.figures["p99_ms"]  # three instances hold better


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"vary": "workload..rps", "values": [1]}, "vary", "not a field path"),
        ({"vary": "components.nope.instances", "values": [2]}, "components.nope",
         ""),
        ({"vary": "components.web.instances", "values": [0]},
         "components.web.instances", "= 0"),
        ({"vary": "workload.rps", "values": [100, -5]}, "workload.rps", "-5"),
        ({"vary": "workload.rps", "values": []}, "values", "at least one"),
        ({"vary": "workload.rps", "values": [100, 100]}, "values", "twice"),
        ({"vary": "workload.rps", "start": 1, "stop": 5, "steps": 0}, "steps",
         "at least 1"),
        ({"vary": "workload.rps", "start": 1}, "from", "--to"),
        ({"vary": "components.lb", "values": [1]}, "components.lb", "mapping"),
        ({"vary": "workload.rps", "values": [float("nan")]}, "values[0]", "finite"),
    ],
)  # fmt: skip
def test_bad_sweeps_name_the_field_and_create_nothing(
    alice, scenario, queued, kwargs, field, words
):
    with pytest.raises(SweepError) as caught:
        _sweep(alice, scenario, kind="sweep", **kwargs)
    assert caught.value.field.startswith(field), caught.value
    assert words in str(caught.value)
    assert Sweep.objects.count() == 0 and Run.objects.count() == 0
    assert queued == []


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"low": 500, "high": 100}, "low", "below high"),
        ({"resolution": 2}, "resolution", "between 0 and 1"),
        ({"low": -10, "high": 100}, "workload.rps", "-10"),
    ],
)
def test_bad_capacity_searches_name_the_field(alice, queued, kwargs, field, words):
    scenario = scenario_create(owner=alice, text=DOC)
    with pytest.raises(SweepError) as caught:
        _sweep(alice, scenario, kind="capacity", vary="workload.rps", **kwargs)
    assert caught.value.field == field, caught.value
    assert words in str(caught.value)
    assert Sweep.objects.count() == 0 and Run.objects.count() == 0


def test_capacity_needs_objectives(alice, queued):
    scenario = scenario_create(owner=alice, text=DOC.split("objectives:")[0])
    with pytest.raises(SweepError) as caught:
        _sweep(alice, scenario, kind="capacity", vary="workload.rps")
    assert caught.value.field == "objectives"
    assert Sweep.objects.count() == 0


def test_a_low_end_that_misses_fails_the_search_naming_low(alice, queued):
    scenario = scenario_create(owner=alice, text=DOC)
    sweep = _sweep(alice, scenario, kind="capacity", vary="workload.rps",
                   low=500, high=900)  # fmt: skip
    drain(queued)
    sweep.refresh_from_db()
    assert sweep.status == Sweep.Status.FAILED
    assert sweep.error.startswith("low: even the low end misses")


def test_sweep_max_points_is_refused_naming_the_field(
    alice, scenario, queued, settings
):
    settings.SWEEP_MAX_POINTS = 5
    with pytest.raises(SweepError) as caught:
        _sweep(alice, scenario, kind="sweep", vary="workload.rps",
               start=10, stop=100, steps=6)  # fmt: skip
    assert caught.value.field == "steps"
    assert "at most 5 points" in str(caught.value)
    assert Sweep.objects.count() == 0 and Run.objects.count() == 0


def test_sweeps_active_per_user_and_points_do_not_count_as_runs(
    alice, scenario, queued, settings
):
    settings.SWEEPS_ACTIVE_PER_USER = 2
    settings.RUNS_ACTIVE_PER_USER = 2
    for _ in range(2):  # six point runs active, over RUNS_ACTIVE_PER_USER
        _sweep(alice, scenario, kind="sweep", vary="workload.rps",
               values=[100, 200, 300])  # fmt: skip
    with pytest.raises(SweepLimitExceeded) as caught:
        _sweep(alice, scenario, kind="sweep", vary="workload.rps", values=[100])
    assert "SWEEPS_ACTIVE_PER_USER" in str(caught.value)
    assert Sweep.objects.count() == 2
    # The sweeps' runs leave alice's own runs their whole limit.
    text = scenario.latest_version.document_text
    for _ in range(2):
        run_create(owner=alice, document=run_document_parse(text=text),
                   document_text=text)  # fmt: skip


def test_a_duplicated_run_finished_changes_nothing(alice, scenario, queued):
    sweep = _sweep(alice, scenario, kind="sweep", vary="workload.rps",
                   values=[100, 200])  # fmt: skip
    first = sweep.points.order_by("value").first()
    ids = [queued.pop(0), queued.pop(0)]
    drain([first.run_id])
    before = list(SweepPoint.objects.values_list("id", "recorded", "figures", "met"))
    runs = Run.objects.count()
    for _ in range(3):
        run_finished.send(sender=Run, run_id=first.run_id)
        services.sweep_advance(sweep_id=sweep.pk)
    assert list(SweepPoint.objects.values_list("id", "recorded", "figures", "met")) == (
        before
    )
    assert Run.objects.count() == runs
    sweep.refresh_from_db()
    assert sweep.status == Sweep.Status.RUNNING
    drain([i for i in ids if i != first.run_id])
    sweep.refresh_from_db()
    assert sweep.status == Sweep.Status.SUCCEEDED
    finished_at = sweep.finished_at
    run_finished.send(sender=Run, run_id=first.run_id)
    sweep.refresh_from_db()
    assert sweep.finished_at == finished_at and sweep.status == "succeeded"


def test_a_duplicated_signal_in_a_capacity_search_creates_no_round_twice(alice, queued):
    scenario = scenario_create(owner=alice, text=DOC)
    sweep = _sweep(alice, scenario, kind="capacity", vary="workload.rps")
    drain(queued[:2])
    del queued[:2]
    round1 = list(sweep.points.filter(round=1).values_list("value", flat=True))
    assert len(round1) == services.BATCH
    for run_id in sweep.points.filter(round=0).values_list("run_id", flat=True):
        run_finished.send(sender=Run, run_id=run_id)
    assert sweep.points.count() == 2 + services.BATCH
    assert len(queued) == services.BATCH


def test_a_failed_point_fails_the_sweep_and_cancels_the_others(alice, scenario, queued):
    sweep = _sweep(alice, scenario, kind="sweep", vary="workload.rps",
                   values=[100, 200, 300])  # fmt: skip
    bad = sweep.points.get(value=200).run
    Run.objects.filter(pk=bad.pk).update(document_text="not: [a document")
    RunPart.objects.filter(run=bad).delete()  # one task: run_execute parses it
    execution.run_execute(run_id=bad.pk, worker="t@h")
    sweep.refresh_from_db()
    assert sweep.status == Sweep.Status.FAILED
    assert sweep.error.startswith("The run of workload.rps = 200 failed: ")
    others = Run.objects.filter(sweep_points__sweep=sweep).exclude(pk=bad.pk)
    assert set(others.values_list("status", flat=True)) == {Run.Status.CANCELLED}


def test_cancel_cancels_every_point_run(alice, scenario, queued):
    sweep = _sweep(alice, scenario, kind="sweep", vary="workload.rps",
                   values=[100, 200, 300])  # fmt: skip
    drain(queued[:1])
    assert services.sweep_cancel(sweep=sweep) is True
    assert services.sweep_cancel(sweep=sweep) is False
    sweep.refresh_from_db()
    assert sweep.status == Sweep.Status.CANCELLED
    statuses = list(
        Run.objects.filter(sweep_points__sweep=sweep)
        .order_by("created_at")
        .values_list("status", flat=True)
    )
    assert statuses.count(Run.Status.CANCELLED) == 2
    assert not Run.objects.filter(status__in=Run.ACTIVE).exists()
