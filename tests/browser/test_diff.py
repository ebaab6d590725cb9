"""The diff of two versions, as a user gets to it, in a real browser.

Save two versions (more web servers, then a cache), compare v1 with v3 from the
Versions section: the list names the added cache and the changed instance count, the
canvas marks the cache added and the web tier changed; run both versions from the
diff page and read their metrics side by side with deltas.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_designer import open_new_scenario as new_scenario

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

PASSWORD = "correct-Horse-battery-42"
EDITOR_URL = re.compile(r"/scenarios/(\d+)/$")
DIFF_URL = re.compile(r"/scenarios/(\d+)/diff/1/3/$")
SHOTS = Path("/tmp/shots")


def log_in_as_new_user(page: Page, username: str) -> None:
    from django.contrib.auth.models import User

    User.objects.create_user(username, password=PASSWORD)
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("Log in", re.I)).click()
    expect(page.get_by_role("heading", name="Scenarios", exact=True)).to_be_visible()


def editor(page: Page):
    return page.get_by_label(re.compile(r"^Topology document"))


def save_version(page: Page, edit, message: str) -> None:
    expect(page.locator("#designer")).to_have_attribute("data-ready", "1")
    text = editor(page).input_value()
    edited = edit(text)
    assert edited != text
    editor(page).fill(edited)
    page.wait_for_timeout(300)  # the canvas follows the text
    page.get_by_label("Version message").fill(message)
    page.get_by_role("button", name="Save version").click()
    expect(page).to_have_url(EDITOR_URL)
    expect(page.locator("#versions")).to_contain_text(message)


def run_from_diff(page: Page, number: int) -> None:
    page.get_by_role("button", name=f"Run v{number}", exact=True).click()
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}/$"))
    expect(page.get_by_test_id("run-status")).to_have_text("succeeded", timeout=90_000)
    page.go_back()
    page.reload()
    expect(page).to_have_url(DIFF_URL)


def test_diff_of_two_saved_versions_lists_marks_and_compares_runs(
    page: Page, page_errors
):
    log_in_as_new_user(page, "vera")
    new_scenario(page)
    expect(page).to_have_url(EDITOR_URL)
    save_version(
        page,
        lambda t: t.replace("instances: 2", "instances: 4"),
        "Four web servers",
    )
    save_version(
        page,
        lambda t: t.rstrip("\n") + "\n  cache: {type: cache, backing: web}\n",
        "Add a cache",
    )
    history = page.get_by_test_id("history")
    expect(history.locator("li")).to_have_count(3)
    expect(history).to_contain_text("vera")
    SHOTS.mkdir(exist_ok=True)
    page.locator("#versions").screenshot(path=str(SHOTS / "versions-panel.png"))

    # Compare v1 with v3 from the Versions section.
    page.get_by_label("Compare", exact=True).select_option("1")
    page.get_by_label("with", exact=True).select_option("3")
    page.get_by_role("button", name="Compare", exact=True).click()
    expect(page).to_have_url(DIFF_URL)

    changes = page.get_by_test_id("changes")
    expect(changes.locator("li.added")).to_have_attribute("data-component", "cache")
    expect(changes.locator("li.changed")).to_have_attribute("data-component", "web")
    expect(changes.locator("li.changed")).to_contain_text("web.instances: 2 → 4")
    expect(changes.locator("li.removed")).to_have_count(0)

    canvas = page.locator("#diff-canvas")
    expect(canvas).to_have_attribute("data-marks", re.compile("cache"))
    marks = json.loads(canvas.get_attribute("data-marks"))
    assert marks == {
        "__clients__": "same",
        "lb": "same",
        "web": "changed",
        "cache": "added",
    }
    # Every node is drawn inside the visible canvas.
    box = canvas.bounding_box()
    for node_id in marks:
        pos = page.evaluate(
            "id => window.scaleboardDiff.cy.getElementById(id).renderedPosition()",
            node_id,
        )
        assert 0 < pos["x"] < box["width"] and 0 < pos["y"] < box["height"], node_id

    # Neither version has run: the page says so and offers to run each.
    expect(page.get_by_test_id("no-runs")).to_contain_text("v1 has no succeeded run.")
    run_from_diff(page, 1)
    expect(page.get_by_test_id("no-runs")).to_contain_text("v3 has no succeeded run.")
    run_from_diff(page, 3)

    metrics = page.get_by_test_id("metrics")
    expect(metrics.locator("tbody tr")).to_have_count(6)
    for label in ("Throughput", "Latency p50", "Latency p99", "Error rate"):
        expect(metrics).to_contain_text(label)
    expect(metrics).to_contain_text("Cost per hour")
    expect(metrics).to_contain_text("Bottleneck")
    # Four web servers instead of two cost more per hour.
    cost = metrics.locator("tr", has_text="Cost per hour")
    expect(cost).to_have_class("worse")

    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "diff.png"), full_page=True)

    # The version page: who saved it, when and why; restore and fork.
    page.get_by_role("link", name="v1", exact=True).first.click()
    expect(page.get_by_test_id("version-author")).to_have_text("vera")
    expect(page.get_by_test_id("version-message")).to_have_text("Created")
    page.screenshot(path=str(SHOTS / "version.png"), full_page=True)
    page.get_by_role("button", name="Restore v1").click()
    expect(page).to_have_url(EDITOR_URL)
    expect(page.get_by_test_id("history").locator("li").first).to_contain_text(
        "Restored from v1"
    )
    assert "instances: 2" in editor(page).input_value()
    assert "cache" not in editor(page).input_value()
    assert page_errors == []


def test_a_save_that_raced_another_keeps_everything_and_forks_on_request(
    page: Page, page_errors
):
    from dashboard.scenarios.models import Scenario

    log_in_as_new_user(page, "wren")
    new_scenario(page)
    expect(page).to_have_url(EDITOR_URL)
    url = page.url
    other = page.context.new_page()  # the same user, a second tab
    other.goto(url)
    save_version(
        other, lambda t: t.replace("rps: 200", "rps: 300"), "Other tab: more load"
    )
    other.close()

    expect(page.locator("#designer")).to_have_attribute("data-ready", "1")
    mine = editor(page).input_value().replace("instances: 2", "instances: 5")
    editor(page).fill(mine)
    page.wait_for_timeout(300)
    page.get_by_label("Version message").fill("Mine: five web servers")
    page.get_by_role("button", name="Save version").click()

    conflict = page.get_by_test_id("conflict")
    # (the save's answer can take seconds on a machine running three test shards)
    expect(conflict).to_contain_text("version 2 was saved by wren", timeout=30_000)
    expect(editor(page)).to_have_value(mine)
    expect(page.get_by_label("Version message")).to_have_value("Mine: five web servers")
    expect(conflict.locator("li.changed", has_text="web.instances")).to_contain_text(
        "web.instances: 2 → 5"
    )
    expect(conflict).to_contain_text("workload.rps: 300 → 200")
    SHOTS.mkdir(exist_ok=True)
    conflict.screenshot(path=str(SHOTS / "conflict.png"))

    conflict.get_by_role("button", name="Save as a fork").click()
    expect(page).to_have_url(EDITOR_URL)
    expect(page.locator("h1")).to_contain_text("(fork)")
    expect(editor(page)).to_have_value(mine)
    expect(page.get_by_test_id("history")).to_contain_text(
        "Forked from New scenario v1: Mine: five web servers"
    )
    source = Scenario.objects.exclude(name__endswith="(fork)").get(
        owner__username="wren"
    )
    assert source.versions.count() == 2
    # The conflict itself answers 409 by design; nothing else may fail.
    assert [e for e in page_errors if not e.startswith("HTTP 409 POST")] == []
