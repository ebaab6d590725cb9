"""A capacity search in a real browser against the embedded default: a user copies
the case study's step 5, starts a capacity search on workload.rps from "Sweep…",
watches the chart fill and reads the answer (about 580 req/s, web). Then compares
with step 6 as the seed's next step would: saves step 6 (a primary of 16 cores
instead of 8) as version 2 and runs an A/B capacity search of version 2 against
version 1 on one chart. The answer is the seed's lesson: the bigger primary does not
raise capacity, because the web tier, not the database, is what saturates. Screenshots
in /tmp/shots/sweep-*.png."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

PASSWORD = "correct-Horse-battery-42"
SHOTS = Path("/tmp/shots")
STEP6 = Path(__file__).resolve().parents[2] / "examples" / "case-study-step6.yaml"
ANSWER = re.compile(r"up to ([0-9.,]+) req/s")


def _answer_value(text: str) -> float:
    return float(ANSWER.search(text).group(1).replace(",", ""))


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
    value = _answer_value(text)
    assert 540 <= value <= 620, text
    assert "above it web" in text
    rows = page.locator("#sweep-points-body tr")
    assert rows.count() >= 5
    page.screenshot(path=str(SHOTS / "sweep-capacity.png"), full_page=True)

    # Compare with step 6: its document saved as version 2 of the same scenario.
    page.get_by_role("link", name=re.compile(r"Social media API, step 5")).first.click()
    expect(page.locator("#designer")).to_have_attribute("data-ready", "1")
    page.get_by_label(re.compile(r"^Topology document")).fill(STEP6.read_text())
    page.wait_for_timeout(300)  # the canvas follows the text
    page.get_by_label("Version message").fill("step 6: a 16-core primary")
    page.get_by_role("button", name="Save version").click()
    expect(page.locator("#versions")).to_contain_text("step 6: a 16-core primary")
    page.get_by_test_id("sweep-link").click()
    page.get_by_test_id("sweep-vary").select_option("workload.rps")
    page.get_by_test_id("kind-capacity").check()
    page.get_by_test_id("sweep-compare").select_option("1")  # A: v2 (latest), B: v1
    page.get_by_test_id("sweep-start").click()
    expect(page).to_have_url(re.compile(r"/sweeps/\d+/$"))
    expect(page.get_by_text("version 2 against version 1 (A/B)")).to_be_visible()
    expect(page.get_by_test_id("sweep-status")).to_have_text(
        "succeeded", timeout=480_000
    )
    lines = page.get_by_test_id("answer-line")
    expect(lines).to_have_count(3)
    # and the line that answers "did my change raise capacity?"
    expect(lines.nth(2)).to_have_text(
        re.compile(
            r"^version 2 against version 1: the same capacity within the resolution "
            r"\([0-9.,]+ req/s\); web limits both$"
        )
    )
    by_version = {}
    for i in range(2):
        line = lines.nth(i).inner_text()
        number = int(re.match(r"version (\d+):", line).group(1))
        by_version[number] = line
    assert set(by_version) == {1, 2}, by_version
    v1, v2 = _answer_value(by_version[1]), _answer_value(by_version[2])
    # the same bottleneck on both, so the same capacity within a few percent: the
    # bigger primary bought nothing (the seed: measure before scaling)
    for line in by_version.values():
        assert "above it web" in line, line
    assert 540 <= v2 <= 620 and abs(v2 - v1) <= 0.05 * v1, by_version
    # Both versions' points are in the table, each labelled.
    table = page.locator("#sweep-points-body")
    expect(table).to_contain_text("version 1")
    expect(table).to_contain_text("version 2")
    page.screenshot(path=str(SHOTS / "sweep-ab.png"), full_page=True)
