"""The diff service: components and settings field by field, defaults filled in, and
the headline metrics of two versions' runs side by side."""

from __future__ import annotations

import pytest

from dashboard.runs.models import Run
from dashboard.scenarios.diff import (
    FieldChange,
    MetricRow,
    document_diff,
    metrics_compare,
    report_metrics_compare,
    version_diff,
)
from dashboard.scenarios.services import scenario_version_create
from tests.web.factories import SMALL_DOC, make_run, make_scenario

WITH_CACHE = SMALL_DOC.replace("instances: 2", "instances: 4").replace(
    "targets: [web]}",
    "targets: [web]}\n  cache: {type: cache, backing: web}",
)


def report(
    *, rps=100.0, p50=10.0, p99=50.0, errors=0, offered=1000, cost=1.0, neck="web"
):
    return {
        "requests": {
            "offered": offered,
            "completed": offered - errors,
            "errors": errors,
            "timeouts": 0,
            "rejected": 0,
        },
        "throughput_rps": rps,
        "latency_ms": {"mean": p50, "p50": p50, "p90": p99, "p95": p99, "p99": p99},
        "cost": {"per_hour": cost, "components": {}},
        "bottleneck": {"component": neck, "utilization": 0.93, "advice": "add"},
    }


def test_identical_documents_have_an_empty_diff():
    diff = document_diff(old_text=SMALL_DOC, new_text=SMALL_DOC)
    assert diff.is_empty
    assert diff.raw == []


def test_an_explicit_default_is_not_a_change():
    # A service's queue_limit defaults to 500 and its speed to 1.0; work_ms: 10 is
    # the exponential of mean 10; rps 100 equals 100.0.
    explicit = SMALL_DOC.replace(
        "cores: 2,", "cores: 2, speed: 1.0, stateful: false,"
    ).replace("rps: 100", "rps: 100.0")
    assert explicit != SMALL_DOC
    assert document_diff(old_text=SMALL_DOC, new_text=explicit).is_empty


def test_changed_field_added_and_removed_components_by_dotted_path():
    diff = document_diff(old_text=SMALL_DOC, new_text=WITH_CACHE)
    assert diff.added == ["cache"]
    assert diff.removed == []
    assert [c.id for c in diff.changed] == ["web"]
    assert diff.changed[0].fields == [FieldChange("web.instances", 2, 4)]
    back = document_diff(old_text=WITH_CACHE, new_text=SMALL_DOC)
    assert back.removed == ["cache"] and back.added == []
    assert back.changed[0].fields == [FieldChange("web.instances", 4, 2)]


def test_nested_fields_and_settings_are_named_by_their_path():
    new = SMALL_DOC.replace("mean: 10", "mean: 12").replace("rps: 100", "rps: 150")
    new = new.replace("seed: 7", "seed: 8")
    diff = document_diff(old_text=SMALL_DOC, new_text=new)
    assert diff.changed[0].fields == [FieldChange("web.work_ms.mean", 10.0, 12.0)]
    assert FieldChange("workload.rps", 100.0, 150.0) in diff.settings
    assert FieldChange("simulation.seed", 7, 8) in diff.settings
    assert not diff.added and not diff.removed


def test_an_optional_block_added_shows_each_of_its_fields():
    new = SMALL_DOC.replace(
        "mean: 10}}", "mean: 10}, autoscale: {min: 2, max: 6}}"
    ).replace("simulation: {", "objectives: {error_rate: 0.01}\nsimulation: {")
    diff = document_diff(old_text=SMALL_DOC, new_text=new)
    paths = {f.path: (f.old, f.new) for f in diff.changed[0].fields}
    assert paths["web.autoscale.min"] == (None, 2)
    assert paths["web.autoscale.max"] == (None, 6)
    assert ("objectives.error_rate", None, 0.01) in [
        (f.path, f.old, f.new) for f in diff.settings
    ]


def test_lists_compare_as_whole_values():
    new = SMALL_DOC.replace("targets: [web]", "targets: [web, web2]") + (
        "  web2: {type: service, instances: 1, cores: 1, work_ms: 5}\n"
    )
    diff = document_diff(old_text=SMALL_DOC, new_text=new)
    assert diff.added == ["web2"]
    assert diff.changed[0].fields == [
        FieldChange("lb.targets", ["web"], ["web", "web2"])
    ]


def test_a_text_that_does_not_validate_is_compared_as_its_raw_tree():
    bad = SMALL_DOC.replace("instances: 2", "instances: 0")  # invalid: >= 1
    diff = document_diff(old_text=SMALL_DOC, new_text=bad)
    assert diff.raw == ["new"]
    web = next(c for c in diff.changed if c.id == "web")
    assert FieldChange("web.instances", 2, 0) in web.fields
    unreadable = document_diff(old_text=SMALL_DOC, new_text="{{{ not yaml")
    assert unreadable.raw == ["new"]
    assert sorted(unreadable.removed) == ["lb", "web"]


@pytest.mark.django_db
def test_version_diff_compares_two_stored_versions(alice):
    scenario = make_scenario(alice)
    v1 = scenario.latest_version
    v2 = scenario_version_create(scenario=scenario, text=WITH_CACHE, author=alice)
    diff = version_diff(old=v1, new=v2)
    assert diff.added == ["cache"]
    assert diff.changed[0].id == "web"
    assert version_diff(old=v2, new=v2).is_empty


def test_metric_rows_have_deltas_and_a_direction():
    rows = report_metrics_compare(
        old=report(), new=report(rps=120, p50=8, p99=70, errors=10, cost=2, neck="db")
    )
    by = {r.label: r for r in rows}
    assert by["Throughput"] == MetricRow(
        "Throughput", 100.0, 120.0, 20.0, "req/s", True
    )
    assert by["Latency p50"].delta == -2.0 and by["Latency p50"].better is True
    assert by["Latency p99"].delta == 20.0 and by["Latency p99"].better is False
    assert by["Error rate"].old == 0.0 and by["Error rate"].new == pytest.approx(1.0)
    assert by["Error rate"].unit == "%" and by["Error rate"].better is False
    assert by["Cost per hour"].delta == 1.0 and by["Cost per hour"].better is False
    assert by["Bottleneck"].old == "web at 93%"
    assert by["Bottleneck"].new == "db at 93%"
    assert by["Bottleneck"].delta is None and by["Bottleneck"].better is None
    assert by["Bottleneck"].note == "moved"
    same = report_metrics_compare(old=report(), new=report())
    assert all(r.better is None for r in same)
    assert same[-1].note == ""


def test_a_metric_missing_from_a_report_has_no_delta():
    old = report()
    del old["cost"]
    rows = {r.label: r for r in report_metrics_compare(old=old, new=report())}
    assert rows["Cost per hour"].old is None
    assert rows["Cost per hour"].delta is None and rows["Cost per hour"].better is None


@pytest.mark.django_db
def test_metrics_compare_uses_each_versions_latest_succeeded_run(alice):
    scenario = make_scenario(alice)
    v1 = scenario.latest_version
    v2 = scenario_version_create(scenario=scenario, text=WITH_CACHE, author=alice)
    assert metrics_compare(old=v1, new=v2) == []
    r1 = make_run(alice, scenario, status=Run.Status.SUCCEEDED)
    r1.version, r1.report = v1, report(rps=100)
    r1.save()
    # Only v1 has a succeeded run: no rows.
    failed = make_run(alice, scenario, status=Run.Status.FAILED)
    failed.report = report(rps=999)
    failed.save()
    assert metrics_compare(old=v1, new=v2) == []
    r2 = make_run(alice, scenario, status=Run.Status.SUCCEEDED)
    r2.report = report(rps=150)
    r2.save()
    rows = metrics_compare(old=v1, new=v2)
    assert rows[0].label == "Throughput"
    assert (rows[0].old, rows[0].new, rows[0].delta) == (100.0, 150.0, 50.0)
