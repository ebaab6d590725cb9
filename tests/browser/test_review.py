"""A design review as its people take it, in a real browser, two users at once.

alice owns the team "Platform" and its scenario (v1, then v2 adding a cache); carol
edits. alice runs both versions from the review page; carol opens the review from
the scenario page, pins a comment on the cache mentioning alice and requests
changes; alice sees the unread count in the header, opens the mention from her
inbox, reads the discussion and approves. The review page is screenshot to
/tmp/shots/review.png, and the Markdown export is downloaded and read.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

PASSWORD = "correct-Horse-battery-42"
SHOTS = Path("/tmp/shots")
V1 = """\
scaleboard: 1
name: Checkout
simulation: {duration_s: 20, warmup_s: 2, seed: 7, snapshot_s: 1}
workload: {target: lb, rps: 100}
components:
  lb: {type: load_balancer, algorithm: round_robin, targets: [web]}
  web: {type: service, instances: 2, cores: 2, work_ms: {dist: exponential, mean: 10}}
"""
V2 = (
    V1.replace("instances: 2", "instances: 3")
    + "  cache: {type: cache, backing: web}\n"
)


@pytest.fixture
def review_world(app_server):
    from django.contrib.auth.models import User

    from dashboard.scenarios.services import scenario_create, scenario_version_create
    from dashboard.teams.models import Role
    from dashboard.teams.services import member_add, team_create

    alice = User.objects.create_user("alice", password=PASSWORD)
    User.objects.create_user("carol", password=PASSWORD)
    team = team_create(creator=alice, name="Platform")
    member_add(team=team, username="carol", role=Role.EDITOR, added_by=alice)
    scenario = scenario_create(owner=alice, text=V1, team=team)
    scenario_version_create(
        scenario=scenario, text=V2, author=alice, message="Add a cache, 3 web servers"
    )
    return scenario


def new_page(browser: Browser, app_server, page_errors: list[str]) -> Page:
    context = browser.new_context(
        base_url=app_server.url,
        viewport={"width": 1280, "height": 900},
        accept_downloads=True,
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("pageerror", lambda exc: page_errors.append(f"{page.url}: {exc.message}"))
    page.on(
        "console",
        lambda msg: (
            page_errors.append(f"console.error: {msg.text}")
            if msg.type == "error"
            else None
        ),
    )
    return page


def log_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("Log in", re.I)).click()
    expect(page.get_by_role("heading", name="Scenarios", exact=True)).to_be_visible()


def run_version(page: Page, review_url: str, number: int) -> None:
    page.get_by_role("button", name=f"Run v{number}", exact=True).click()
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}/$"))
    expect(page.get_by_test_id("run-status")).to_have_text("succeeded", timeout=90_000)
    page.goto(review_url)


def test_an_editor_requests_changes_and_the_owner_approves(
    browser, app_server, review_world, page_errors
):
    scenario = review_world
    review_url = f"/scenarios/{scenario.pk}/versions/2/review/"
    alice = new_page(browser, app_server, page_errors)
    carol = new_page(browser, app_server, page_errors)
    log_in(alice, "alice")
    log_in(carol, "carol")

    # alice backs the claim with runs of both versions, from the review page.
    alice.goto(review_url)
    run_version(alice, review_url, 1)
    run_version(alice, review_url, 2)
    expect(alice.get_by_test_id("metrics")).to_contain_text("Throughput")

    # carol finds the review from the scenario page's panel.
    carol.goto(f"/scenarios/{scenario.pk}/")
    panel = carol.locator("#review-panel")
    expect(panel).to_contain_text("Review of v2")
    expect(panel.get_by_test_id("panel-status")).to_have_text("Open")
    panel.get_by_role("link", name="Open the review").click()
    expect(carol).to_have_url(re.compile(re.escape(review_url) + "$"))
    expect(carol.locator(".change.added")).to_contain_text("cache")

    carol.get_by_label("Comment", exact=True).fill(
        "@alice nothing calls the **cache** yet: is p99 really better?\n\n"
        "<script>window.__xss = 1</script>"
    )
    carol.get_by_label("Pin to a component").select_option("cache")
    carol.get_by_role("button", name="Comment", exact=True).click()
    thread = carol.locator(".thread").first
    expect(thread).to_contain_text("nothing calls the cache yet")
    expect(thread.locator(".pin")).to_contain_text("cache")
    expect(thread.locator("a.mention")).to_have_text("@alice")
    expect(thread).to_contain_text("<script>window.__xss = 1</script>")
    assert carol.evaluate("window.__xss") is None
    # Stored-XSS attempts in the other texts a reviewer types: shown as text, never run.
    carol.get_by_text("Set the question").click()
    carol.get_by_label("What should this review decide?").fill(
        'Ship it? <img src=x onerror="window.__xss = 2">'
    )
    carol.get_by_role("button", name="Save the question").click()
    expect(carol.locator("#question .question")).to_contain_text("<img src=x")
    carol.get_by_label("Note (optional)").fill(
        'Wire the cache into web first. <svg onload="window.__xss = 3">'
    )
    carol.get_by_role("button", name="Request changes").click()
    expect(carol.get_by_test_id("review-status")).to_have_text("Changes requested")
    expect(carol.locator("#decision .note")).to_contain_text("<svg onload")
    assert carol.evaluate("window.__xss") is None
    assert carol.locator("#decision img, #decision svg, #question img").count() == 0

    # The designer gets the pin as data (contract 2).
    carol.goto(f"/scenarios/{scenario.pk}/")
    pins = carol.evaluate(
        "JSON.parse(document.getElementById('designer-pins').textContent)"
    )
    assert pins["cache"]["count"] == 1
    expect(carol.locator("#review-panel")).to_contain_text("1 comment")
    SHOTS.mkdir(exist_ok=True)
    carol.locator("#review-panel").screenshot(path=str(SHOTS / "review-panel.png"))

    # alice: a mention and a decision wait in her inbox.
    alice.goto("/")
    expect(alice.locator(".inbox-count")).to_have_text("2")
    alice.get_by_test_id("inbox-link").click()
    expect(alice.locator(".notification.unread")).to_have_count(2)
    mention = alice.locator(".notification", has_text="mentioned you")
    mention.get_by_role("button", name="Open").click()
    expect(alice).to_have_url(re.compile(re.escape(review_url) + "#comment-\\d+$"))
    expect(alice.locator(".inbox-count")).to_have_text("1")
    expect(alice.get_by_test_id("review-status")).to_have_text("Changes requested")
    alice.get_by_role("button", name="Approve").click()
    expect(alice.get_by_test_id("review-status")).to_have_text("Approved")
    expect(alice.locator("#decision")).to_contain_text("by alice")
    expect(alice.locator(".history")).to_contain_text("Changes requested")

    SHOTS.mkdir(exist_ok=True)
    alice.screenshot(path=str(SHOTS / "review.png"), full_page=True)

    with alice.expect_download() as download:
        alice.get_by_role("link", name="Export as Markdown").click()
    text = Path(download.value.path()).read_text()
    assert "- Status: **Approved** (alice," in text
    assert "on component `cache` (cache)" in text
    assert "| Throughput |" in text

    # carol hears of the approval.
    carol.reload()
    expect(carol.locator(".inbox-count")).to_have_text("1")
    assert page_errors == []
