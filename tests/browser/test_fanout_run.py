"""A run of several replications from the Run button, in a real browser against the
embedded default (`make run`: one in-process worker thread, memory transport): its
replications are parts (`RunPart`) that the worker runs one by one, combined into
the report `simengine.simulate` gives; a cancel keeps a partial report that the page
shows after a reload."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

import simengine

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

PASSWORD = "correct-Horse-battery-42"
RUN_URL = re.compile(r"/runs/[0-9a-f-]{36}/$")
EDITOR_URL = re.compile(r"/scenarios/(\d+)/$")
FINISH_MS = 60_000


def _sign_up_and_copy_the_example(page: Page) -> None:
    from dashboard.scenarios.models import Scenario

    name = Scenario.objects.get(is_example=True, slug="web-tier").name
    page.goto("/accounts/signup/")
    page.get_by_label("Username").fill("fanner")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    card = page.locator("li.card").filter(
        has=page.get_by_role("heading", name=name, exact=True)
    )
    card.get_by_role("link", name=f"Open the example {name}").click()
    example_url = page.url
    page.get_by_role("button", name="Make a copy").click()
    page.wait_for_url(lambda url: url != example_url)
    expect(page).to_have_url(EDITOR_URL)


def _run_with(page: Page, *, replications: int, duration_s: int) -> str:
    box = page.get_by_label(re.compile(r"^Topology document"))
    text = box.input_value()
    text, n = re.subn(r"\breplications:\s*\d+", f"replications: {replications}", text)
    assert n == 1
    text, n = re.subn(r"\bduration_s:\s*[0-9.]+", f"duration_s: {duration_s}", text)
    assert n == 1
    box.fill(text)
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page).to_have_url(RUN_URL)
    return RUN_URL.search(page.url).group(0).split("/")[2]


def _run(run_id: str):
    from dashboard.runs.models import Run

    return Run.objects.get(pk=run_id)


def _part_states(run_id: str) -> list[tuple[str, str]]:
    from dashboard.runs.models import RunPart

    rows = RunPart.objects.filter(run_id=run_id).order_by("replication")
    return list(rows.values_list("status", "worker"))


def test_a_run_of_three_replications_runs_as_parts_and_reports_simulate_s_numbers(
    page: Page, page_errors
):
    _sign_up_and_copy_the_example(page)
    run_id = _run_with(page, replications=3, duration_s=30)
    expect(page.get_by_test_id("run-status")).to_have_text(
        "succeeded", timeout=FINISH_MS
    )
    expect(page.locator("#report").get_by_test_id("latency")).to_be_visible()
    run = _run(run_id)
    states = _part_states(run_id)
    assert [s for s, _ in states] == ["succeeded"] * 3
    assert len({w for _, w in states}) == 1 and "@" in states[0][1]  # one node
    local = simengine.simulate(
        simengine.parse_document(run.document_text), seed=run.seed
    )
    assert run.report == json.loads(json.dumps(local))
    assert run.report["replications"] == 3
    assert page_errors == []


def test_cancelling_a_fanned_run_keeps_a_partial_report_shown_after_a_reload(
    page: Page, page_errors
):
    _sign_up_and_copy_the_example(page)
    # 3 x 3,005 snapshots: under RUN_MAX_SNAPSHOTS; each replication takes seconds.
    run_id = _run_with(page, replications=3, duration_s=3000)
    page.wait_for_function(
        """() => Number(document.getElementById("live-info").dataset.count || 0) >= 3
               && document.getElementById("run-status").textContent.trim() === "running"
        """,
        timeout=FINISH_MS,
    )
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_test_id("run-status")).to_have_text("cancelled")
    for _ in range(150):
        if _run(run_id).report is not None:
            break
        page.wait_for_timeout(200)
    run = _run(run_id)
    assert run.report["partial"]["replications_planned"] == 3
    assert {s for s, _ in _part_states(run_id)} <= {"cancelled", "succeeded"}
    page.reload()
    expect(page.get_by_test_id("run-status")).to_have_text("cancelled")
    expect(page.locator("#report").get_by_test_id("latency")).to_be_visible()
    assert page_errors == []
