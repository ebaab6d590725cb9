"""A capacity search in a real browser against the embedded default: a user copies
the case study's step 5, starts a capacity search on workload.rps from "Sweep…",
watches the chart fill and reads the answer (about 580 req/s, web). Screenshots in
/tmp/shots/sweep-*.png."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

PASSWORD = "correct-Horse-battery-42"
SHOTS = Path("/tmp/shots")


def _copy_example(page: Page, slug: str) -> None:
    from dashboard.scenarios.models import Scenario

    example = Scenario.objects.get(is_example=True, slug=slug)
    page.goto(f"/scenarios/{example.pk}/")
    page.get_by_role("button", name="Make a copy").click()
    page.wait_for_url(lambda url: f"/scenarios/{example.pk}/" not in url)


def test_a_capacity_search_of_step_5_answers_about_580_req_s_limited_by_web(
    page: Page,
):
    SHOTS.mkdir(exist_ok=True)
    page.goto("/accounts/signup/")
    page.get_by_label("Username").fill("planner")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    _copy_example(page, "case-study-step5")
    page.get_by_test_id("sweep-link").click()
    expect(page.get_by_test_id("sweep-vary")).to_be_visible()
    page.get_by_test_id("sweep-vary").select_option("workload.rps")
    page.get_by_test_id("kind-capacity").check()
    page.screenshot(path=str(SHOTS / "sweep-form.png"), full_page=True)
    page.get_by_test_id("sweep-start").click()
    expect(page).to_have_url(re.compile(r"/sweeps/\d+/$"))
    # The chart fills in as points finish (the bracket's two first).
    expect(page.locator("#sweep-chart-latency canvas")).to_be_visible()
    expect(page.get_by_test_id("sweep-progress")).to_contain_text(
        re.compile(r"[1-9]\d* of \d+ points done"), timeout=240_000
    )
    page.screenshot(path=str(SHOTS / "sweep-filling.png"), full_page=True)
    expect(page.get_by_test_id("sweep-status")).to_have_text(
        "succeeded", timeout=480_000
    )
    answer = page.get_by_test_id("answer-line").first
    expect(answer).to_contain_text("within latency_ms.p99 <= 250 ms")
    text = answer.inner_text()
    value = float(re.search(r"up to ([0-9.]+) req/s", text).group(1))
    assert 540 <= value <= 620, text
    assert "above it web" in text
    rows = page.locator("#sweep-points-body tr")
    assert rows.count() >= 5
    page.screenshot(path=str(SHOTS / "sweep-capacity.png"), full_page=True)
