"""The report page, its exports, comparison and its shared variant.

Reports are real (the engine on SMALL_DOC and on the web-tier example with three
replications, once per module); the huge run's timeline is a real window repeated
10,000 times with its time moved on.
"""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

import simengine
from dashboard.runs import timeline
from dashboard.runs.models import Run, RunPart, RunSnapshot
from dashboard.sharing.services import share_link_create
from tests.web.factories import SMALL_DOC, make_run, make_scenario

ROOT = Path(__file__).resolve().parents[2]
WEB_TIER = (ROOT / "examples" / "web-tier.yaml").read_text()
WEB_TIER_3 = WEB_TIER.replace("duration_s: 60", "duration_s: 15").replace(
    "replications: 1", "replications: 3"
)


@pytest.fixture(scope="module")
def small_report() -> dict:
    return simengine.simulate(simengine.parse_document(SMALL_DOC), seed=1)


@pytest.fixture(scope="module")
def replicated_report() -> dict:
    return simengine.simulate(simengine.parse_document(WEB_TIER_3), seed=3)


def finished(owner, scenario=None, *, report, name="run", **fields) -> Run:
    run = make_run(owner, scenario, status=Run.Status.SUCCEEDED)
    run.report = report
    run.name = name
    for key, value in fields.items():
        setattr(run, key, value)
    run.save()
    return run


def _summary(client, run, **params):
    return client.get(reverse("run_summary", args=[run.pk]), params)


# --- The page -------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_report_page_shows_the_headline_components_and_charts(
    alice, alice_client, replicated_report
):
    scenario = make_scenario(alice, WEB_TIER_3)
    run = finished(alice, scenario, report=replicated_report)
    response = _summary(alice_client, run)
    assert response.status_code == 200
    html = response.content.decode()
    ci = replicated_report["ci95"]
    figures = {h["key"]: h for h in response.context["headline"]}
    assert figures["throughput"]["value"] == replicated_report["throughput_rps"]
    assert figures["p99"]["ci95"] == tuple(ci["latency_ms.p99"])
    assert figures["cost"]["value"] == replicated_report["cost"]["per_hour"]
    assert figures["error_rate"]["value"] == 0.0
    assert "95% CI" in html[html.index('data-testid="figure-throughput"') :][:400]
    assert 'data-testid="run-verdict"' in html and "objectives 3 of 3 met" in html
    for cid in replicated_report["components"]:
        assert f'data-testid="component-{cid}"' in html
    advice = replicated_report["bottleneck"]["advice"]
    assert advice.replace("'", "&#x27;")[:60] in html
    script = html.split('id="summary-chart" type="application/json">')[1]
    chart = json.loads(script.split("</script>")[0])
    windows = replicated_report["timeline"]
    assert chart["x"] == [round(w["t_s"], 3) for w in windows]
    assert chart["series"]["rps"] == [round(w["rps"], 3) for w in windows]
    assert chart["series"]["p95"] == [round(w["latency_ms"]["p95"], 3) for w in windows]
    assert chart["compare"] is None
    assert "js/run-summary.js" in html and "<script>" not in html


@pytest.mark.django_db
def test_downsampling_keeps_rates_over_time_and_the_highest_percentile():
    windows = [
        {
            "t_s": float(i + 1),
            "window_s": 1.0,
            "rps": float(i),
            "offered_rps": 10.0,
            "errors_rps": 0.0,
            "timeouts_rps": 0.0,
            "rejected_rps": 0.0,
            "latency_ms": {"p50": 1.0, "p95": 2.0, "p99": 100.0 if i == 7 else 3.0},
        }
        for i in range(10)
    ]
    series = timeline.chart_series({"timeline": windows}, max_points=2)
    assert series["t_s"] == [5.0, 10.0]
    assert series["rps"] == [2.0, 7.0]  # (0+1+2+3+4)/5, (5+...+9)/5
    assert series["p99"] == [3.0, 100.0]  # the spike at 8 s survives
    assert len(timeline.chart_series({"timeline": windows * 500})["t_s"]) <= 2000


@pytest.mark.django_db
def test_the_replications_of_a_fanned_out_run_are_listed(
    alice, alice_client, replicated_report
):
    run = finished(alice, make_scenario(alice), report=replicated_report)
    for i, seed in enumerate((11, 12, 13)):
        part_report = simengine.simulate(simengine.parse_document(SMALL_DOC), seed=seed)
        RunPart.objects.create(
            run=run,
            replication=i,
            status="succeeded",
            worker=f"celery@w{i}",
            report=part_report,
        )
    html = _summary(alice_client, run).content.decode()
    section = html[html.index('data-testid="replications"') :].split("</section>")[0]
    for i in range(3):
        assert f"celery@w{i}" in section
    parts = _summary(alice_client, run).context["parts"]
    assert [p.throughput_rps for p in parts] == [
        p.report["throughput_rps"] for p in RunPart.objects.filter(run=run)
    ]


@pytest.mark.django_db
def test_a_run_without_a_report_says_so(alice, alice_client):
    run = make_run(alice, make_scenario(alice), status=Run.Status.FAILED)
    response = _summary(alice_client, run)
    assert response.status_code == 200
    assert 'data-testid="no-report"' in response.content.decode()
    for name in ("run_timeline_csv", "run_timeline_json"):
        assert alice_client.get(reverse(name, args=[run.pk])).status_code == 404


@pytest.mark.django_db
def test_outsiders_get_404_and_team_viewers_read(
    alice, team_scenario, small_report, mallory_client, dave_client
):
    run = finished(alice, team_scenario, report=small_report)
    for name in ("run_summary", "run_timeline_csv", "run_timeline_json"):
        url = reverse(name, args=[run.pk])
        assert mallory_client.get(url).status_code == 404, name
        assert dave_client.get(url).status_code == 200, name
        assert dave_client.post(url).status_code == 405, name


# --- Exports --------------------------------------------------------------------------


def _csv(response) -> list[list[str]]:
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


def _value(cell: str):
    return None if cell == "" else float(cell)


@pytest.mark.django_db
def test_the_csv_and_json_rows_are_the_reports_timeline(
    alice, alice_client, replicated_report
):
    run = finished(alice, make_scenario(alice), report=replicated_report)
    windows = replicated_report["timeline"]
    rows = _csv(alice_client.get(reverse("run_timeline_csv", args=[run.pk])))
    header, body = rows[0], rows[1:]
    assert header[:11] == [
        "run",
        "t_s",
        "window_s",
        "rps",
        "offered_rps",
        "errors_rps",
        "timeouts_rps",
        "rejected_rps",
        "p50",
        "p95",
        "p99",
    ]
    assert {"web.utilization", "web.instances", "db.queue_mean"} <= set(header)
    assert len(body) == len(windows)
    for row, window in zip(body, windows, strict=True):
        cells = dict(zip(header, row, strict=True))
        assert cells["run"] == "run"
        assert _value(cells["t_s"]) == window["t_s"]
        assert _value(cells["rps"]) == window["rps"]
        assert _value(cells["p99"]) == window["latency_ms"]["p99"]
        for cid, values in window["components"].items():
            for key in timeline.COMPONENT_KEYS:
                if key in values:
                    assert _value(cells[f"{cid}.{key}"]) == values[key], (cid, key)

    data = alice_client.get(reverse("run_timeline_json", args=[run.pk])).json()
    assert data["columns"] == header[1:]
    assert data["run"]["id"] == str(run.pk)
    assert len(data["rows"]) == len(windows)
    for row, window in zip(data["rows"], windows, strict=True):
        assert row["t_s"] == window["t_s"] and row["window_s"] == window["window_s"]
        assert row["offered_rps"] == window["offered_rps"]
        assert row["p50"] == window["latency_ms"]["p50"]
        assert row["web.utilization"] == window["components"]["web"]["utilization"]
        assert row["lb.utilization"] is None  # not measured: null, as in the report


@pytest.mark.django_db
def test_the_exports_carry_each_windows_replication_lag_and_shard_shares(
    alice, alice_client
):
    # case-study step 7: a replicated database over four shards (its golden report)
    report = json.loads(
        (ROOT / "tests/engine/golden/case-study-step7.json").read_text()
    )
    run = finished(alice, make_scenario(alice), report=report)
    rows = _csv(alice_client.get(reverse("run_timeline_csv", args=[run.pk])))
    header, body = rows[0], rows[1:]
    db = [c for c in header if c.startswith("postgres.")]
    assert db[-6:] == [
        "postgres.lag_mean_ms",
        "postgres.lag_max_ms",
        "postgres.shard-0.share",
        "postgres.shard-1.share",
        "postgres.shard-2.share",
        "postgres.shard-3.share",
    ]
    for row, window in zip(body, report["timeline"], strict=True):
        cells = dict(zip(header, row, strict=True))
        comp = window["components"]["postgres"]
        assert (
            _value(cells["postgres.lag_mean_ms"]) == comp["replication_lag_ms"]["mean"]
        )
        assert _value(cells["postgres.lag_max_ms"]) == comp["replication_lag_ms"]["max"]
        for k, shard in enumerate(comp["shards"]):
            assert _value(cells[f"postgres.shard-{k}.share"]) == shard["share"]
    data = alice_client.get(reverse("run_timeline_json", args=[run.pk])).json()
    assert data["columns"] == header[1:]
    first = report["timeline"][0]["components"]["postgres"]
    assert data["rows"][0]["postgres.shard-2.share"] == first["shards"][2]["share"]


@pytest.mark.django_db
def test_a_run_name_cannot_inject_a_formula_into_the_csv(
    alice, alice_client, small_report
):
    for name in (
        '=HYPERLINK("http://evil","x")',
        "+1+cmd|' /C calc'!A0",
        "-2",
        "@SUM(A1)",
    ):
        run = finished(alice, make_scenario(alice), report=small_report, name=name)
        response = alice_client.get(reverse("run_timeline_csv", args=[run.pk]))
        assert response["Content-Disposition"] == (
            f'attachment; filename="timeline-{run.pk}.csv"'
        )
        rows = _csv(response)
        for row in rows[1:]:
            assert row[0] == "'" + name
            assert not any(c.startswith(("=", "+", "@")) for c in row)


# --- Comparison -----------------------------------------------------------------------


@pytest.mark.django_db
def test_comparing_two_runs_of_a_scenario_shows_deltas_and_both_series(
    alice, alice_client, small_report
):
    scenario = make_scenario(alice)
    base = finished(alice, scenario, report=small_report, name="baseline")
    slower = copy.deepcopy(small_report)
    slower["latency_ms"]["p99"] += 25.0
    slower["throughput_rps"] -= 10.0
    run = finished(alice, scenario, report=slower, name="slower")
    page = _summary(alice_client, run)
    assert [c.pk for c in page.context["compare_choices"]] == [base.pk]
    assert f'<option value="{base.pk}"' in page.content.decode()

    response = _summary(alice_client, run, compare=str(base.pk))
    assert response.status_code == 200
    rows = {m.label: m for m in response.context["deltas"]}
    assert rows["Latency p99"].delta == pytest.approx(25.0)
    assert rows["Latency p99"].better is False
    assert rows["Throughput"].delta == pytest.approx(-10.0)
    html = response.content.decode()
    assert 'data-testid="deltas"' in html and "worse" in html
    chart = response.context["chart"]
    assert chart["compare_label"] == "baseline v1"
    assert len(chart["compare"]["rps"]) == len(chart["x"])
    assert chart["compare"]["rps"] == [
        round(w["rps"], 3) for w in small_report["timeline"]
    ]


@pytest.mark.django_db
def test_comparison_refuses_what_it_may_not_show(
    alice, bob, alice_client, small_report
):
    scenario = make_scenario(alice)
    run = finished(alice, scenario, report=small_report)
    theirs = finished(bob, make_scenario(bob), report=small_report)
    elsewhere = finished(alice, make_scenario(alice), report=small_report)
    unfinished = make_run(alice, scenario)
    # Another user's run: 404, as if it did not exist (nothing about it leaks).
    response = _summary(alice_client, run, compare=str(theirs.pk))
    assert response.status_code == 404
    missing = _summary(
        alice_client, run, compare="00000000-0000-0000-0000-000000000000"
    )
    assert missing.status_code == 404
    for other, words in (
        (elsewhere.pk, "compare: that run is of another scenario"),
        (unfinished.pk, "compare: that run has no report"),
        (run.pk, "compare: pick another run"),
        ("not-a-run", "compare: must be a run id"),
        ("x\x00", "compare:"),
    ):
        response = _summary(alice_client, run, compare=str(other))
        assert response.status_code == 400, other
        assert response.content.decode().startswith(words), other


# --- Shared ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_shared_report_page_is_read_only(alice, bob, small_report):
    scenario = make_scenario(alice)
    run = finished(alice, scenario, report=small_report)
    base = finished(alice, scenario, report=small_report, name="base")
    other = finished(alice, make_scenario(alice), report=small_report)
    _link, token = share_link_create(scenario=scenario, created_by=alice)
    visitor = Client()
    url = reverse("shared_run_summary", args=[token, run.pk])
    response = visitor.get(url, {"compare": str(base.pk)})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="share-banner"' in html and 'data-testid="deltas"' in html
    assert f"/s/{token}/runs/{run.pk}/timeline.csv" in html
    assert 'method="post"' not in html.lower() and "/delete" not in html
    assert response["Cache-Control"] == "private, no-store"
    # A run of another scenario is not reachable through this link at all.
    assert visitor.get(url, {"compare": str(other.pk)}).status_code == 404
    assert (
        visitor.get(reverse("shared_run_summary", args=[token, other.pk])).status_code
        == 404
    )
    csv_url = reverse("shared_run_timeline_csv", args=[token, run.pk])
    assert len(_csv(visitor.get(csv_url))) == len(small_report["timeline"]) + 1
    json_url = reverse("shared_run_timeline_json", args=[token, run.pk])
    assert visitor.get(json_url).json()["run"]["id"] == str(run.pk)
    for target in (url, csv_url, json_url):
        for method in ("post", "put", "patch", "delete"):
            assert getattr(visitor, method)(target).status_code == 403
    assert Run.objects.filter(pk=run.pk).exists()


# --- Huge runs ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_run_with_10000_snapshots_opens_small_with_bounded_queries(
    alice, alice_client, small_report
):
    window = small_report["timeline"][0]
    report = copy.deepcopy(small_report)
    report["timeline"] = [
        {**window, "t_s": 2.0 + i, "rps": float(i % 97)} for i in range(10_000)
    ]
    report["event_log"] = [
        {
            "t_s": float(i),
            "replication": 0,
            "kind": "autoscaled",
            "component": "web",
            "text": f"web: {i % 5 + 1} instances",
        }
        for i in range(3_000)
    ]
    run = finished(alice, make_scenario(alice), report=report)
    RunSnapshot.objects.bulk_create(
        RunSnapshot(run=run, seq=i, data={**window, "seq": i, "replication": 0})
        for i in range(10_000)
    )
    with CaptureQueriesContext(connection) as queries:
        response = _summary(alice_client, run)
    assert response.status_code == 200
    assert len(queries) <= 12, [q["sql"][:100] for q in queries]
    assert not any("runs_runsnapshot" in q["sql"] for q in queries)
    assert len(response.content) < 400_000
    chart = response.context["chart"]
    assert len(chart["x"]) == 2000
    assert chart["x"][-1] == report["timeline"][-1]["t_s"]
    html = response.content.decode()
    assert "The first 500 of 3000 events" in html
    assert "10000 windows" in html and "drawn as 2000 points" in html
    # The export has every window.
    data = alice_client.get(reverse("run_timeline_json", args=[run.pk])).json()
    assert len(data["rows"]) == 10_000


@pytest.mark.django_db
def test_the_live_pages_report_links_to_the_report_page(
    alice, alice_client, small_report
):
    scenario = make_scenario(alice)
    run = finished(alice, scenario, report=small_report)
    html = alice_client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert f'href="/runs/{run.pk}/summary/" data-testid="summary-link"' in html
    _link, token = share_link_create(scenario=scenario, created_by=alice)
    html = Client().get(reverse("shared_run", args=[token, run.pk])).content.decode()
    assert f'href="/s/{token}/runs/{run.pk}/summary/"' in html
