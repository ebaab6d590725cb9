"""The report page in a real browser: from the run history to a run's report, its
charts, a comparison with another run, the CSV download, and the printed page.

Screenshots of the page on screen and as printed go to /tmp/shots/report-*.png.
"""

from __future__ import annotations

import copy
import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

import simengine
from tests.browser.test_diff import log_in_as_new_user

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path("/tmp/shots")
DOC = (
    (ROOT / "examples" / "web-tier.yaml")
    .read_text()
    .replace("duration_s: 60", "duration_s: 20")
)


def _runs(username: str):
    """Two succeeded runs of one scenario of `username`, with real reports: the
    second one slower (its p99 and throughput moved)."""
    from django.contrib.auth.models import User

    from dashboard.runs.models import Run
    from dashboard.scenarios.services import scenario_create

    owner = User.objects.get(username=username)
    scenario = scenario_create(owner=owner, text=DOC)
    report = simengine.simulate(simengine.parse_document(DOC), seed=5)
    slower = copy.deepcopy(report)
    slower["latency_ms"]["p99"] += 40.0
    slower["throughput_rps"] -= 25.0
    for window in slower["timeline"]:
        window["rps"] -= 25.0
    runs = []
    for name, rep in (("baseline", report), ("slower", slower)):
        runs.append(
            Run.objects.create(
                owner=owner,
                scenario=scenario,
                version=scenario.latest_version,
                name=name,
                document_text=DOC,
                seed=5,
                status=Run.Status.SUCCEEDED,
                report=rep,
            )
        )
    return runs


def test_the_report_page_charts_compares_downloads_and_prints(page: Page, page_errors):
    log_in_as_new_user(page, "rhea")
    baseline, slower = _runs("rhea")

    page.goto("/runs/")
    row = page.locator(f'tr[data-run="{slower.pk}"]')
    expect(row.get_by_test_id("run-verdict")).to_have_text("objectives 3 of 3 met")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "report-history.png"), full_page=True)
    row.get_by_test_id("summary-link").click()
    expect(page).to_have_url(re.compile(rf"/runs/{slower.pk}/summary/$"))
    expect(page.get_by_role("heading", name="Report · slower")).to_be_visible()
    expect(page.get_by_test_id("figure-p99")).to_contain_text("ms")

    for chart in ("chart-throughput", "chart-latency", "chart-failures"):
        el = page.get_by_test_id(chart)
        expect(el.locator("canvas")).to_have_count(1)
        points = int(el.get_attribute("data-points") or 0)
        assert points == len(slower.report["timeline"]) > 0

    page.get_by_label("Another run of this scenario").select_option(str(baseline.pk))
    page.get_by_role("button", name="Compare").click()
    expect(page).to_have_url(re.compile(rf"compare={baseline.pk}"))
    deltas = page.get_by_test_id("deltas")
    expect(deltas).to_be_visible()
    p99 = deltas.locator("tr", has_text="Latency p99")
    expect(p99).to_contain_text("+40.00")
    expect(p99).to_contain_text("worse")
    # Both runs on the charts: the compared one's series in the legend too.
    expect(
        page.get_by_test_id("chart-throughput").get_by_text(
            "completed rps (baseline v1)"
        )
    ).to_be_visible()

    with page.expect_download() as download_info:
        page.get_by_test_id("timeline-csv").click()
    download = download_info.value
    assert download.suggested_filename == f"timeline-{slower.pk}.csv"
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text())))
    assert rows[0][:4] == ["run", "t_s", "window_s", "rps"]
    assert len(rows) == len(slower.report["timeline"]) + 1
    assert float(rows[1][3]) == slower.report["timeline"][0]["rps"]

    page.screenshot(path=str(SHOTS / "report-screen.png"), full_page=True)
    page.emulate_media(media="print")
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.get_by_role("button", name="Compare")).to_be_hidden()
    expect(page.locator("#print-report")).to_be_hidden()
    expect(page.get_by_test_id("deltas")).to_be_visible()
    # A4 at 96 dpi less the margins: about 700 px wide; the charts fit it.
    page.set_viewport_size({"width": 700, "height": 1000})
    page.wait_for_timeout(300)
    for chart in ("chart-throughput", "chart-latency", "chart-failures"):
        box = page.get_by_test_id(chart).locator("canvas").bounding_box()
        assert box is not None and box["width"] <= 700
    page.screenshot(path=str(SHOTS / "report-print.png"), full_page=True)
    page.pdf(path=str(SHOTS / "report-print.pdf"), format="A4")
    assert page_errors == []
