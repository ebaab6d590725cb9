"""Teams in a real browser: alice creates a team, invites carol as an editor and
starts a team scenario with a name; carol, in a browser of her own, finds it in her
list under the team's filter and may edit it; dave, a viewer, gets the read-only page.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

PASSWORD = "correct-Horse-battery-42"
EDITOR_URL = re.compile(r"/scenarios/(\d+)/$")
TEAM_URL = re.compile(r"/teams/(\d+)/$")
SHOTS = Path("/tmp/shots")


def make_user(username: str) -> None:
    from django.contrib.auth.models import User

    User.objects.create_user(username, password=PASSWORD)


def log_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("Log in", re.I)).click()
    expect(page.get_by_role("heading", name="Scenarios", exact=True)).to_be_visible()


def other_browser(browser, app_server, errors: list[str]) -> Page:
    context = browser.new_context(
        base_url=app_server.url, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc.message}"))
    page.on(
        "response",
        lambda r: (
            errors.append(f"HTTP {r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    return page


def test_a_team_shares_a_named_scenario_with_an_editor(
    page: Page, page_errors, browser, app_server
):
    for name in ("alice", "carol", "dave"):
        make_user(name)
    SHOTS.mkdir(exist_ok=True)

    # alice creates the team from the header's Teams link.
    log_in(page, "alice")
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Teams"
    ).click()
    page.get_by_label("Team name").fill("Checkout squad")
    page.get_by_role("button", name="Create team").click()
    expect(page).to_have_url(TEAM_URL)
    expect(page.get_by_role("heading", name="Checkout squad")).to_be_visible()

    # An empty username is refused, naming the field; then carol as an editor.
    page.get_by_role("button", name="Invite").click()
    expect(page.get_by_role("alert")).to_contain_text("No user is called")
    page.get_by_label("Username").fill("carol")
    page.get_by_label("Role", exact=True).select_option("editor")
    page.get_by_role("button", name="Invite").click()
    expect(page.locator('tr[data-member="carol"] select')).to_have_value("editor")
    page.get_by_label("Username").fill("dave")
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_role("button", name="Invite").click()
    expect(page.locator('tr[data-member="dave"] select')).to_have_value("viewer")
    team_url = page.url

    # A team scenario, with a name: a blank one is refused first.
    page.get_by_role("link", name="New scenario in Checkout squad").click()
    expect(page.get_by_label("Belongs to")).to_have_value(re.compile(r"^team-\d+$"))
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("alert")).to_have_text("Give the scenario a name.")
    page.get_by_label("Name").fill("Cart")
    page.get_by_role("button", name="Create").click()
    expect(page).to_have_url(EDITOR_URL)
    expect(page.get_by_role("heading", name="Cart", exact=True)).to_be_visible()
    # Renamed from the page head: a new version whose document carries the name.
    page.locator("details.rename > summary").click()
    page.get_by_label("New name").fill("Cart service")
    page.screenshot(path=str(SHOTS / "teams-scenario-rename.png"))
    page.locator("details.rename").get_by_role("button", name="Rename").click()
    expect(page.get_by_role("heading", name="Cart service")).to_be_visible()
    expect(page.locator("ul.messages")).to_contain_text("version 2")
    expect(page.get_by_label(re.compile(r"^Topology document"))).to_have_value(
        re.compile(r"^name: Cart service$", re.M)
    )
    expect(page.locator(".owner-line")).to_contain_text("Team Checkout squad")
    expect(page.locator("#designer")).to_have_attribute("data-ready", "1")
    scenario_url = page.url

    page.goto(team_url)
    expect(page.get_by_role("link", name="Cart service")).to_be_visible()
    page.screenshot(path=str(SHOTS / "teams-team-page.png"), full_page=True)

    # carol, in a browser of her own, finds it under the team's filter.
    carol_errors: list[str] = []
    carol = other_browser(browser, app_server, carol_errors)
    try:
        log_in(carol, "carol")
        carol.get_by_role("navigation", name="Owner filter").get_by_role(
            "link", name="Checkout squad"
        ).click()
        expect(carol).to_have_url(re.compile(r"\?owner=team-\d+"))
        row = carol.locator("table.list tbody tr").filter(has_text="Cart service")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("Checkout squad")
        expect(row).to_contain_text("alice")
        carol.screenshot(path=str(SHOTS / "teams-filtered-list.png"), full_page=True)
        # "Mine" does not list it: it is the team's, not hers.
        carol.get_by_role("navigation", name="Owner filter").get_by_role(
            "link", name="Mine"
        ).click()
        expect(carol.get_by_role("link", name="Cart service")).to_have_count(0)
        # As an editor she may save and run it.
        carol.goto(scenario_url)
        expect(carol.get_by_role("button", name="Save version")).to_be_visible()
        expect(carol.get_by_test_id("readonly-note")).to_have_count(0)
    finally:
        carol.context.close()

    # dave, a viewer: the read-only page, no Save or Run.
    dave_errors: list[str] = []
    dave = other_browser(browser, app_server, dave_errors)
    try:
        log_in(dave, "dave")
        dave.goto(scenario_url)
        expect(dave.get_by_test_id("readonly-note")).to_contain_text(
            "you are a viewer of Checkout squad"
        )
        expect(dave.locator("#designer")).to_have_attribute("data-readonly", "true")
        expect(dave.get_by_role("button", name="Save version")).to_have_count(0)
        expect(dave.get_by_role("button", name="Run simulation")).to_have_count(0)
        dave.screenshot(path=str(SHOTS / "teams-viewer-page.png"), full_page=True)
    finally:
        dave.context.close()

    # The two refusals alice was shown (400s, on purpose) and nothing else.
    provoked = [
        e
        for e in page_errors
        if re.match(r"HTTP 400 POST .*/(members/add|scenarios/new)$", e)
    ]
    assert len(provoked) == 2, page_errors
    assert [e for e in page_errors if e not in provoked] == []
    assert carol_errors == [] and dave_errors == []


RECORD_VIOLATIONS_JS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def test_the_admin_works_under_the_csp(page: Page, page_errors):
    """An operator logs in to /admin/ (axes in front) and edits a team with its
    membership inline: the admin's scripts and styles are files, the CSP refuses
    nothing."""
    from django.contrib.auth.models import User

    from dashboard.teams.services import member_add, team_create

    User.objects.create_user(
        "operator", password=PASSWORD, is_staff=True, is_superuser=True
    )
    alice = User.objects.create_user("alice", password=PASSWORD)
    User.objects.create_user("carol", password=PASSWORD)
    team = team_create(creator=alice, name="Ops team")
    member_add(team=team, username="carol", role="viewer", added_by=alice)
    page.context.add_init_script(RECORD_VIOLATIONS_JS)

    page.goto("/admin/")
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(
        page.locator("#teams-team").get_by_role("link", name="Teams")
    ).to_be_visible()
    seen = page.evaluate("window.__csp")
    page.goto(f"/admin/teams/team/{team.pk}/change/")
    expect(page.locator("#membership_set-group, .inline-group").first).to_be_visible()
    # The admin's own style sheet applied (a file, allowed by style-src 'self').
    assert (
        page.evaluate("getComputedStyle(document.querySelector('#header')).display")
        != "inline"
    )
    page.get_by_label("Name").fill("Ops team 2")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("changed successfully")
    seen += page.evaluate("window.__csp")
    page.goto("/admin/runs/run/?status=queued")
    page.goto("/admin/scenarios/scenario/?q=x")
    seen += page.evaluate("window.__csp")
    page.screenshot(path=str(SHOTS / "teams-admin.png"), full_page=True)
    assert seen == []
    assert page_errors == []
    from dashboard.teams.models import Team

    assert Team.objects.get(pk=team.pk).name == "Ops team 2"
