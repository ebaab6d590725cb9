"""Issue 12's whole flow, as its new users take it, in five browsers at once.

alice signs up, makes a team, invites carol (editor) and dave (viewer), starts a team
scenario and adds a cache in the designer; carol pins "the cache fixes it?" on the
cache and requests changes; alice sees it in her inbox, saves a version with a third
web server and runs both; carol reads the diff (canvas marks, metric deltas) and
approves. dave sees all of it and can change none of it (no controls; his own POSTs
get 403 and change no row); mallory gets 404 everywhere and the run's stream refuses
her; a share link shows the scenario read-only to a visitor without an account until
alice revokes it. Screenshots: /tmp/shots/flow-review.png, flow-diff.png,
flow-team-list.png.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Browser, Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

PASSWORD = "correct-Horse-battery-42"
SHOTS = Path("/tmp/shots")
TEAM = "Checkout squad"
SCENARIO = "Checkout"
EDITOR_URL = re.compile(r"/scenarios/(\d+)/$")
TEAM_URL = re.compile(r"/teams/(\d+)/$")
RUN_URL = re.compile(r"/runs/([0-9a-f-]{36})/$")
SHARE_URL = re.compile(r"^http://127\.0\.0\.1:\d+/s/[A-Za-z0-9_-]{43}/$")
NUMBER = re.compile(r"^-?\d[\d,]*(\.\d+)?")
DELTA = re.compile(r"^([+-]\d[\d,]*\.\d\d|±0)\b")
RUN_TIMEOUT_MS = 90_000

# Opens the run's stream from the page it runs in; resolves on the first message, or
# on the close (a refused handshake closes before it ever opens).
OPEN_SOCKET_JS = """
(path) => new Promise((resolve) => {
  const ws = new WebSocket("ws://" + location.host + path);
  let opened = false;
  const done = (result) => { resolve(result); ws.close(); };
  ws.onopen = () => { opened = true; };
  ws.onmessage = (ev) => done({opened, message: JSON.parse(ev.data).type});
  ws.onclose = (ev) => resolve({opened, code: ev.code});
  setTimeout(() => done({opened, timeout: true}), 10000);
})
"""


# --- What a user does -------------------------------------------------------------


def new_browser(browser: Browser, app_server, errors: list[str]) -> Page:
    """A browser of one's own (a context: its own cookies), its failures recorded."""
    context = browser.new_context(
        base_url=app_server.url, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc.message}"))
    page.on(
        "console",
        lambda msg: (
            errors.append(f"console.error: {msg.text}")
            if msg.type == "error"
            and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on(
        "response",
        lambda r: (
            errors.append(f"HTTP {r.status} {r.request.method} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    return page


def sign_up(page: Page, username: str) -> None:
    page.goto("/accounts/signup/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Scenarios", exact=True)).to_be_visible()


def invite(page: Page, username: str, role: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Role", exact=True).select_option(role)
    page.get_by_role("button", name="Invite").click()
    expect(page.locator(f'tr[data-member="{username}"] select')).to_have_value(role)


def editor(page: Page):
    return page.get_by_label(re.compile(r"^Topology document"))


def document(page: Page) -> dict:
    return yaml.safe_load(editor(page).input_value())


def wait_ready(page: Page) -> None:
    expect(page.locator("#designer")).to_have_attribute("data-ready", "1")


def wait_for_document(page: Page, check, what: str) -> dict:
    for _ in range(200):  # 20 s: the machines running these are shared and busy
        try:
            doc = document(page)
            if doc and check(doc):
                return doc
        except (yaml.YAMLError, KeyError, TypeError):
            pass
        page.wait_for_timeout(100)
    pytest.fail(f"the document never showed {what}:\n{editor(page).input_value()}")


def save_version(page: Page, text: str, message: str) -> None:
    """Type the document, give the save a message, "Save version"."""
    editor(page).fill(text)
    page.wait_for_timeout(300)  # the canvas follows the text
    page.get_by_label("Version message").fill(message)
    page.get_by_role("button", name="Save version").click()
    expect(page).to_have_url(EDITOR_URL)
    expect(page.locator("#versions")).to_contain_text(message)
    wait_ready(page)


def open_review(page: Page, scenario_url: str, number: int) -> str:
    """From the scenario page's review panel; returns the review page's path."""
    page.goto(scenario_url)
    panel = page.locator("#review-panel")
    expect(panel).to_contain_text(f"Review of v{number}")
    panel.get_by_role("link", name="Open the review").click()
    expect(page).to_have_url(re.compile(rf"/versions/{number}/review/$"))
    return page.url.removeprefix(page.url.split("/scenarios/")[0])


def run_version(page: Page, review_url: str, number: int) -> str:
    """ "Run vN" on the review page, wait for the run to succeed; its id."""
    page.get_by_role("button", name=f"Run v{number}", exact=True).click()
    expect(page).to_have_url(RUN_URL)
    run_id = RUN_URL.search(page.url).group(1)
    expect(page.get_by_test_id("run-status")).to_have_text(
        "succeeded", timeout=RUN_TIMEOUT_MS
    )
    page.goto(review_url)
    return run_id


def csrf_token(page: Page) -> str:
    return page.locator("input[name=csrfmiddlewaretoken]").first.input_value()


def rows(scenario_id: int) -> dict:
    """Everything a write by dave or mallory could change."""
    from dashboard.reviews.models import Comment, Review, ReviewDecision
    from dashboard.runs.models import Run
    from dashboard.scenarios.models import Scenario, ScenarioVersion
    from dashboard.sharing.models import ShareLink
    from dashboard.teams.models import Membership

    scenario = Scenario.objects.get(pk=scenario_id)
    of_versions = {"version__scenario_id": scenario_id}
    return {
        "scenario": (scenario.name, scenario.team_id, scenario.owner_id),
        "versions": list(
            ScenarioVersion.objects.filter(scenario_id=scenario_id)
            .order_by("number")
            .values_list("number", "message", "document_text")
        ),
        "runs": sorted(
            Run.objects.filter(scenario_id=scenario_id).values_list("pk", "status")
        ),
        "comments": list(
            Comment.objects.filter(**of_versions).order_by("pk").values_list("body")
        ),
        "reviews": list(Review.objects.filter(**of_versions).values_list("question")),
        "decisions": list(
            ReviewDecision.objects.filter(**of_versions)
            .order_by("pk")
            .values_list("status")
        ),
        "links": list(
            ShareLink.objects.filter(scenario_id=scenario_id).values_list(
                "pk", "revoked_at"
            )
        ),
        "members": sorted(
            Membership.objects.filter(team_id=scenario.team_id).values_list(
                "user__username", "role"
            )
        ),
    }


# --- The flow ---------------------------------------------------------------------


def test_a_team_reviews_a_cache_backed_by_runs_viewer_reads_outsider_sees_nothing(
    page: Page, page_errors, browser, app_server
):
    started = time.monotonic()  # printed at the end (pytest -s): the budget is 150 s
    SHOTS.mkdir(exist_ok=True)
    alice = page
    errors: dict[str, list[str]] = {n: [] for n in ("carol", "dave", "mallory")}
    carol = new_browser(browser, app_server, errors["carol"])
    dave = new_browser(browser, app_server, errors["dave"])
    mallory = new_browser(browser, app_server, errors["mallory"])
    for name, who in (("carol", carol), ("dave", dave), ("mallory", mallory)):
        sign_up(who, name)

    # 1. alice: a team, two members, a named team scenario, a cache from the designer.
    sign_up(alice, "alice")
    alice.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Teams"
    ).click()
    alice.get_by_label("Team name").fill(TEAM)
    alice.get_by_role("button", name="Create team").click()
    expect(alice).to_have_url(TEAM_URL)
    team_id = int(TEAM_URL.search(alice.url).group(1))
    invite(alice, "carol", "editor")
    invite(alice, "dave", "viewer")
    alice.get_by_role("link", name=f"New scenario in {TEAM}").click()
    alice.get_by_label("Name").fill(SCENARIO)
    alice.get_by_role("button", name="Create").click()
    expect(alice).to_have_url(EDITOR_URL)
    scenario_id = int(EDITOR_URL.search(alice.url).group(1))
    scenario_url = f"/scenarios/{scenario_id}/"
    expect(alice.locator(".owner-line")).to_contain_text(f"Team {TEAM}")
    wait_ready(alice)

    alice.get_by_role("button", name="Database", exact=True).click()
    wait_for_document(alice, lambda d: "db" in d["components"], "a database")
    alice.get_by_label("Selected", exact=True).select_option("web")
    alice.get_by_label("Connect it to").select_option("db")
    alice.locator("#connect-btn").click()
    wait_for_document(alice, lambda d: d["components"]["web"].get("calls"), "web→db")
    alice.get_by_label("Selected", exact=True).select_option("")
    alice.get_by_role("button", name="Cache", exact=True).click()
    doc = wait_for_document(alice, lambda d: "cache" in d["components"], "a cache")
    assert doc["components"]["cache"]["backing"] == "db"
    assert doc["components"]["web"]["calls"] == ["cache"]
    expect(alice.locator("#validation")).to_contain_text("Valid document.")
    # Short runs: ten simulated seconds.
    doc["simulation"].update(duration_s=10, warmup_s=1)
    save_version(
        alice, yaml.safe_dump(doc, sort_keys=False), "A cache in front of the database"
    )

    # 2. carol finds it in her list, pins a question on the cache, requests changes.
    carol.goto("/")
    carol.get_by_role("navigation", name="Owner filter").get_by_role(
        "link", name=TEAM
    ).click()
    carol.get_by_role("link", name=SCENARIO, exact=True).click()
    expect(carol).to_have_url(re.compile(re.escape(scenario_url) + "$"))
    review_v2 = open_review(carol, scenario_url, 2)
    expect(carol.locator('.change.added[data-component="cache"]')).to_have_count(1)
    carol.get_by_label("Comment", exact=True).fill("the cache fixes it?")
    carol.get_by_label("Pin to a component").select_option("cache")
    carol.get_by_role("button", name="Comment", exact=True).click()
    thread = carol.locator(".thread").first
    expect(thread).to_contain_text("the cache fixes it?")
    expect(thread.locator(".pin")).to_contain_text("cache")
    carol.get_by_label("Note (optional)").fill("Show a run with and without it.")
    carol.get_by_role("button", name="Request changes").click()
    expect(carol.get_by_test_id("review-status")).to_have_text("Changes requested")
    # The pin is a badge on the cache in the designer.
    carol.goto(scenario_url)
    wait_ready(carol)
    badge = carol.locator('.pin-badge[data-component="cache"]')
    expect(badge).to_have_text("1")
    expect(badge).to_be_visible()

    # 3. alice: the decision waits in her inbox; a third web server; both runs.
    alice.goto("/")
    expect(alice.locator(".inbox-count")).to_have_text("1")
    alice.get_by_test_id("inbox-link").click()
    unread = alice.locator(".notification.unread")
    expect(unread).to_have_count(1)
    expect(unread).to_contain_text("carol")
    alice.goto(scenario_url)
    wait_ready(alice)
    doc = document(alice)
    doc["components"]["web"]["instances"] = 3
    save_version(
        alice, yaml.safe_dump(doc, sort_keys=False), "A third web server behind it"
    )
    review_v3 = open_review(alice, scenario_url, 3)
    run_v2 = run_version(alice, review_v3, 2)
    run_v3 = run_version(alice, review_v3, 3)
    expect(alice.get_by_test_id("metrics")).to_contain_text("Throughput")

    # 4. carol compares v2 with v3 from the Versions section, then approves v3.
    carol.goto(scenario_url)
    carol.locator("#versions").get_by_role("button", name="Compare").click()
    expect(carol).to_have_url(re.compile(rf"/scenarios/{scenario_id}/diff/2/3/$"))
    diff_url = f"/scenarios/{scenario_id}/diff/2/3/"
    changes = carol.get_by_test_id("changes")
    expect(changes.locator("li.changed")).to_have_attribute("data-component", "web")
    expect(changes.locator("li.changed")).to_contain_text("web.instances: 2 → 3")
    expect(changes.locator("li.added, li.removed")).to_have_count(0)
    canvas = carol.locator("#diff-canvas")
    expect(canvas).to_have_attribute("data-marks", re.compile('"web":"changed"'))
    marks = json.loads(canvas.get_attribute("data-marks"))
    assert marks == {
        "__clients__": "same",
        "lb": "same",
        "web": "changed",
        "db": "same",
        "cache": "same",
    }
    assert carol.evaluate(
        "window.scaleboardDiff.cy.getElementById('web').hasClass('st-changed')"
    )
    metrics = carol.get_by_test_id("metrics")
    expect(metrics.locator("tbody tr")).to_have_count(6)
    for row in metrics.locator("tbody tr").all():
        label = row.locator("th").inner_text()
        cells = [c.inner_text().strip() for c in row.locator("td").all()]
        assert len(cells) == 3, (label, cells)
        if not label.startswith("Bottleneck"):
            assert all(NUMBER.match(c) for c in cells[:2]), (label, cells)
            assert DELTA.match(cells[2]), (label, cells)
    expect(metrics.locator("tr", has_text="Cost per hour")).to_have_class("worse")
    carol.screenshot(path=str(SHOTS / "flow-diff.png"), full_page=True)

    carol.get_by_role("link", name="Review v3", exact=True).click()
    expect(carol).to_have_url(re.compile(r"/versions/3/review/\?base=2$"))
    expect(carol.get_by_label("v3 compared with")).to_have_value("2")
    carol.get_by_label("Comment", exact=True).fill("Measured: see v3's run.")
    carol.get_by_label("or to a run").select_option(run_v3)
    carol.get_by_role("button", name="Comment", exact=True).click()
    expect(
        carol.locator(".thread").first.locator(f'a[href="/runs/{run_v3}/"]')
    ).to_have_count(1)
    carol.get_by_label("Note (optional)").fill("Backed by both runs.")
    carol.get_by_role("button", name="Approve").click()
    expect(carol.get_by_test_id("review-status")).to_have_text("Approved")
    expect(carol.locator("#decision")).to_contain_text("by carol")
    carol.screenshot(path=str(SHOTS / "flow-review.png"), full_page=True)

    # 5. dave, a viewer, reads everything and finds no control to change anything.
    dave.goto(f"/?owner=team-{team_id}")
    expect(dave.get_by_role("link", name=SCENARIO, exact=True)).to_be_visible()
    dave.screenshot(path=str(SHOTS / "flow-team-list.png"), full_page=True)
    dave.goto(scenario_url)
    wait_ready(dave)
    expect(dave.get_by_test_id("readonly-note")).to_contain_text(
        f"you are a viewer of {TEAM}"
    )
    expect(dave.locator("#designer")).to_have_attribute("data-readonly", "true")
    expect(dave.get_by_test_id("history").locator("li")).to_have_count(3)
    expect(dave.locator("ul.runs > li")).to_have_count(
        2
    )  # a run link (and its report) each
    expect(dave.get_by_test_id("panel-status")).to_have_text("Approved")
    for name in ("Save version", "Run simulation", "Run", "Cache", "Connect", "Delete"):
        expect(dave.get_by_role("button", name=name, exact=True)).to_have_count(0)
    for name in ("Delete…", "Move to team…", "Rename scenario"):
        expect(dave.get_by_text(name, exact=True)).to_have_count(0)
    expect(dave.locator("#share-panel")).to_have_count(0)
    dave.goto(diff_url)
    expect(dave.get_by_test_id("metrics").locator("tbody tr")).to_have_count(6)
    expect(dave.locator("#diff-canvas")).to_have_attribute(
        "data-marks", re.compile('"web":"changed"')
    )
    dave.goto(f"/scenarios/{scenario_id}/diff/1/2/")
    expect(dave.get_by_test_id("no-runs")).to_contain_text("v1 has no succeeded run.")
    expect(dave.get_by_role("button", name=re.compile(r"^Run v"))).to_have_count(0)
    for review_url, status in (
        (review_v2, "Changes requested"),
        (review_v3, "Approved"),
    ):
        dave.goto(review_url)
        expect(dave.get_by_test_id("review-status")).to_have_text(status)
        expect(dave.locator(".thread")).to_have_count(1)
        expect(dave.locator("#discussion")).to_contain_text(
            "commenting needs an editor's role"
        )
        expect(dave.locator("textarea")).to_have_count(0)
        for name in ("Comment", "Approve", "Request changes", "Reopen", "Reply"):
            expect(dave.get_by_role("button", name=name, exact=True)).to_have_count(0)
        expect(dave.get_by_text("Set the question")).to_have_count(0)
        expect(dave.get_by_role("button", name=re.compile(r"^Run v"))).to_have_count(0)
    for run_id in (run_v2, run_v3):
        dave.goto(f"/runs/{run_id}/")
        expect(dave.get_by_test_id("run-status")).to_have_text("succeeded")
        expect(dave.get_by_role("button", name="Cancel")).to_have_count(0)
    # The team's activity: three saves, two runs, two comments, two decisions.
    dave.goto(f"/teams/{team_id}/activity/")
    activity = dave.get_by_test_id("activity")
    for kind, count in (("saved", 3), ("ran", 2), ("commented", 2)):
        expect(activity.locator(f"li.event-{kind}")).to_have_count(count)
    expect(activity).to_contain_text("carol approved Checkout v3")
    expect(activity).to_contain_text("carol requested changes on Checkout v2")
    # A viewer may watch the run's stream.
    assert dave.evaluate(OPEN_SOCKET_JS, f"/ws/runs/{run_v3}/")["opened"] is True

    # His own POSTs, with his valid CSRF token: 403 each, and not a row changes.
    token = csrf_token(dave)
    before = rows(scenario_id)
    v3_text = before["versions"][-1][2]
    writes = {
        scenario_url: {"document": v3_text, "message": "dave", "base_version": "3"},
        f"{scenario_url}run": {"version": "3"},
        f"{scenario_url}rename": {"name": "Dave's now"},
        f"{scenario_url}delete": {},
        f"{scenario_url}versions/2/restore": {},
        f"{scenario_url}share/": {"label": "dave", "expires": "7d"},
        f"{review_v3}comments": {"body": "dave was here"},
        f"{review_v3}decide": {"status": "changes_requested"},
        f"{review_v3}question": {"question": "dave asks"},
        f"/teams/{team_id}/members/add": {"username": "mallory", "role": "owner"},
    }
    for url, form in writes.items():
        response = dave.request.post(
            url, form=form, headers={"X-CSRFToken": token}, max_redirects=0
        )
        assert response.status == 403, (url, response.status)
        assert "CSRF" not in response.text(), url  # refused as a viewer, not a forgery
    assert rows(scenario_id) == before
    # The token is good: a write a viewer may do goes through.
    ok = dave.request.post(
        "/inbox/read-all", headers={"X-CSRFToken": token}, max_redirects=0
    )
    assert ok.status in (200, 302), ok.status

    # 6. mallory, an outsider: 404 on every page of it, and no stream.
    mallory_pages = [
        scenario_url,
        *(f"{scenario_url}versions/{n}/" for n in (1, 2, 3)),
        f"{scenario_url}diff/",
        diff_url,
        review_v2,
        review_v3,
        f"{scenario_url}versions/3/review.md",
        f"{scenario_url}share/",
        *(f"/runs/{r}/" for r in (run_v2, run_v3)),
        f"/runs/{run_v3}/report",
        f"/runs/{run_v3}/report.json",
        f"/teams/{team_id}/",
        f"/teams/{team_id}/activity/",
    ]
    for url in mallory_pages:
        response = mallory.goto(url)
        assert response.status == 404, (url, response.status)
        assert SCENARIO not in mallory.content(), url
    mallory.goto("/runs/")
    expect(mallory.locator("main")).to_contain_text("No runs yet")
    mallory.goto("/?owner=all")
    expect(mallory.get_by_role("link", name=SCENARIO, exact=True)).to_have_count(0)
    for run_id in (run_v2, run_v3):
        refused = mallory.evaluate(OPEN_SOCKET_JS, f"/ws/runs/{run_id}/")
        assert refused["opened"] is False and "message" not in refused, refused
    token = csrf_token(mallory)
    for url, form in writes.items():
        response = mallory.request.post(
            url, form=form, headers={"X-CSRFToken": token}, max_redirects=0
        )
        assert response.status == 404, (url, response.status)
    assert rows(scenario_id) == before

    # 7. alice shares it read-only; a visitor without an account reads it; revoked.
    alice.goto(scenario_url)
    panel = alice.locator("#share-panel")
    panel.get_by_text("New share link").click()
    panel.get_by_label("Label").fill("flow review")
    panel.get_by_role("button", name="Create share link").click()
    share_url = alice.get_by_test_id("share-url").input_value()
    assert SHARE_URL.match(share_url), share_url
    visitor_errors: list[str] = []
    visitor = new_browser(browser, app_server, visitor_errors)
    response = visitor.goto(share_url)
    assert response.status == 200
    expect(visitor.get_by_test_id("share-banner")).to_contain_text(
        "Shared read-only by alice"
    )
    expect(visitor.locator("#designer")).to_have_attribute("data-readonly", "true")
    try:
        wait_ready(visitor)
    except AssertionError:
        raise AssertionError(
            f"the shared designer did not draw: {visitor_errors}"
        ) from None
    assert visitor.evaluate("window.scaleboardDesigner.cy.nodes().length") == 5
    for name in ("Run", "Save version", "Cancel", "Comment", "Approve"):
        expect(visitor.get_by_role("button", name=name, exact=True)).to_have_count(0)
    expect(visitor.locator("ul.runs a")).to_have_count(2)
    visitor.locator("ul.runs a").first.click()
    expect(visitor).to_have_url(re.compile(r"/s/[^/]+/runs/[0-9a-f-]{36}/$"))
    expect(visitor.get_by_test_id("run-status")).to_have_text("succeeded")
    shared_run_url = visitor.url

    alice.goto(scenario_url)
    alice.locator("#share-panel").get_by_role(
        "button", name=re.compile("^Revoke share link")
    ).click()
    expect(alice.locator("#share-panel")).to_contain_text("No active links.")
    assert visitor.reload().status == 404
    assert visitor.goto(share_url).status == 404

    # Each failure a user saw was one this test provoked, and nothing else.
    assert page_errors == []
    assert errors["carol"] == []
    assert errors["dave"] == []
    assert all(
        re.match(r"HTTP 404 GET |console\.error: WebSocket connection to", e)
        for e in errors["mallory"]
    ), errors["mallory"]
    assert len([e for e in errors["mallory"] if e.startswith("HTTP 404")]) == len(
        mallory_pages
    )
    assert visitor_errors == [
        f"HTTP 404 GET {shared_run_url}",
        f"HTTP 404 GET {share_url}",
    ], visitor_errors
    for who in (carol, dave, mallory, visitor):
        who.context.close()
    print(f"\nthe flow took {time.monotonic() - started:.0f} s")
