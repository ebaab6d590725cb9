"""Stored XSS, in a real browser: every text a user can type carries script, and no
page runs it.

A world is set up through the services (committed, for the server to see): a team
scenario whose every user-supplied text holds payloads: the scenario's and the team's
names, the document's `name:`, `description:`, YAML comments and region names (the
free text a document allows: component ids must match `[a-z][a-z0-9_-]*`, so they
cannot carry markup), version messages, run names, comment bodies (Markdown links to
`javascript:`, raw HTML), the review's question and decision notes, a share link's
label. Usernames cannot: Django's validator allows letters, digits and @.+-_ only
(tests/web/test_xss_headers.py checks that signup refuses markup).

Then every page a GET reaches (the URL resolver's routes, filled from this world) is
opened in Chromium by the owner (alice), a team viewer (dave) and, for the shared
pages under /s/, an anonymous visitor. On each, after the designer or the diff
canvas has drawn (and a click on a component, which loads the inspector): no payload
ran (`window.__xss` undefined), no dialog opened, no CSP violation was reported, no
element carries an event-handler attribute or a `javascript:` URL, and no inline
script exists. The payload text is seen as text on the scenario list and the
review page (escaped, not dropped); both are screenshot to /tmp/shots/xss-*.png.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

PASSWORD = "xss-Payload-pass-42"
SHOTS = Path("/tmp/shots")

SCRIPT = "<script>window.__xss=1</script>"
IMG = '<img src=x onerror="window.__xss=2">'
SVG = '"><svg onload="window.__xss=3">'
JS_URL = "javascript:window.__xss=4"
END_SCRIPT = "</script><script>window.__xss=5</script>"
END_TEXTAREA = "</textarea><script>window.__xss=6</script>"
END_TITLE = "</title><script>window.__xss=7</script>"
TEMPLATE = "{{7*7}} {% now 'Y' %}"
AMP = "a < b && c > d &amp; &lt;"

SCENARIO_NAME = f"Shop {SCRIPT} {IMG} {SVG} {TEMPLATE} {AMP} {END_TITLE}"
TEAM_NAME = f"Ops {IMG} {SVG} {TEMPLATE}"  # at most 100 characters
REGION = IMG  # a region name is any text of at most 64 characters
DESCRIPTION = f"{END_SCRIPT} {END_TEXTAREA} {SCRIPT} [x]({JS_URL}) {AMP}"


def _doc(*, cache: bool) -> str:
    lines = [
        "scaleboard: 1",
        f"# {END_TEXTAREA} {SCRIPT} {IMG}",
        f"name: {json.dumps(SCENARIO_NAME)}",
        f"description: {json.dumps(DESCRIPTION)}",
        "simulation: {duration_s: 10, warmup_s: 1, seed: 7, snapshot_s: 1}",
        "workload:",
        "  target: lb",
        "  rps: 80",
        f"  regions: {{{json.dumps(REGION)}: 1}}",
        "components:",
        "  lb: {type: load_balancer, algorithm: round_robin, targets: [web]}",
        "  web:",
        "    type: service",
        "    instances: 2",
        "    cores: 2",
        "    work_ms: {dist: exponential, mean: 10}",
        f"    region: {json.dumps(REGION)}  # {END_SCRIPT}",
    ]
    if cache:
        lines.append("  cache: {type: cache, backing: web}")
    return "\n".join(lines) + "\n"


VERSION_MESSAGES = (
    f"First {SCRIPT} {SVG} {TEMPLATE}",
    f"Cache {IMG} {END_SCRIPT} {AMP} {JS_URL}",
)
COMMENT = (
    f"@alice @dave see [the docs]({JS_URL}) and [more](JAVASCRIPT:window.__xss=4)"
    f" <{JS_URL}> {SCRIPT} {TEMPLATE} {AMP}\n\n"
    f"{IMG}\n\n"
    f'<a href="{JS_URL}">raw link</a> {SVG}\n\n'
    f'![pic](x" onerror="window.__xss=2) {END_SCRIPT}\n'
)
REPLY = f"Reply {END_TEXTAREA} {SVG} `{SCRIPT}`"
QUESTION = f"Ship it? {IMG} {SCRIPT} {TEMPLATE}"
NOTE = f"Not yet {SVG} {END_SCRIPT} {AMP}"
SHARE_LABEL = f"Link {IMG} {SVG}"  # at most 100 characters

# Recorded before any page script runs: CSP violations (tests/browser/test_csp.py).
RECORD_VIOLATIONS_JS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""

# Markup that came from user text: an event-handler attribute or a javascript: URL
# on any element, or an inline script (the app has none: data goes in json_script).
RAW_MARKUP_JS = """() => {
  const found = [];
  for (const el of document.querySelectorAll("*")) {
    for (const a of el.attributes) {
      if (/^on/i.test(a.name) || /^\\s*javascript:/i.test(a.value)) {
        found.push(`${el.tagName} ${a.name}=${a.value}`);
      }
    }
  }
  for (const s of document.scripts) {
    if (!s.src && s.type !== "application/json") found.push(`inline script ${s.text}`);
  }
  for (const img of document.querySelectorAll("img")) {
    if (img.getAttribute("src") === "x") found.push("img src=x");
  }
  return found;
}"""


def _execute(run_id) -> None:
    """Simulate a run here, off Playwright's thread (it publishes via async_to_sync)."""
    from django.db import connections

    from dashboard.runs import execution

    def work() -> None:
        try:
            execution.run_execute(run_id=run_id)
        finally:
            connections.close_all()

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(timeout=90)


@pytest.fixture
def xss_world(app_server) -> dict:
    from django.contrib.auth.models import User

    from dashboard.reviews.models import Notification, ReviewDecision
    from dashboard.reviews.services import (
        comment_create,
        review_decide,
        review_question_set,
        review_request,
    )
    from dashboard.runs.models import Run
    from dashboard.scenarios.models import Scenario
    from dashboard.scenarios.services import scenario_create, scenario_version_create
    from dashboard.sharing.services import share_link_create
    from dashboard.teams.models import Role
    from dashboard.teams.services import member_add, team_create

    alice = User.objects.create_user("alice", password=PASSWORD)
    carol = User.objects.create_user("carol", password=PASSWORD)
    dave = User.objects.create_user("dave", password=PASSWORD)
    team = team_create(creator=alice, name=TEAM_NAME)
    member_add(team=team, username="carol", role=Role.EDITOR, added_by=alice)
    member_add(team=team, username="dave", role=Role.VIEWER, added_by=alice)
    scenario = scenario_create(
        owner=alice, text=_doc(cache=False), team=team, message=VERSION_MESSAGES[0]
    )
    v1 = scenario.latest_version
    v2 = scenario_version_create(
        scenario=scenario,
        text=_doc(cache=True),
        author=carol,
        message=VERSION_MESSAGES[1],
    )
    runs = []
    for version in (v1, v2):
        run = Run.objects.create(
            owner=alice,
            scenario=scenario,
            version=version,
            name=SCENARIO_NAME,
            document_text=version.document_text,
            seed=7,
        )
        _execute(run.pk)
        run.refresh_from_db()
        assert run.status == Run.Status.SUCCEEDED, run.error
        runs.append(run)

    root = comment_create(version=v2, author=carol, body=COMMENT, component_id="cache")
    comment_create(version=v2, author=alice, body=REPLY, parent_id=root.pk)
    comment_create(version=v2, author=carol, body=COMMENT, run_id=str(runs[1].pk))
    comment_create(version=v1, author=carol, body=REPLY, component_id="web")
    review_question_set(version=v2, user=alice, question=QUESTION)
    review_request(version=v2, actor=alice, usernames=["carol"])
    review_decide(
        version=v2,
        user=carol,
        status=ReviewDecision.Status.CHANGES_REQUESTED,
        note=NOTE,
    )
    link, token = share_link_create(
        scenario=scenario, created_by=alice, label=SHARE_LABEL
    )
    example = Scenario.objects.filter(is_example=True).order_by("pk").first()
    from dashboard.api.services import token_create
    from dashboard.sweeps.models import Sweep

    api_token, _secret = token_create(user=alice, name=NOTE[:100])
    sweep = Sweep.objects.create(
        scenario=scenario,
        version=v2,
        owner=alice,
        kind="sweep",
        vary="workload.rps",
        values=[100],
    )
    params = {
        "pk": scenario.pk,
        "number": 2,
        "a": 1,
        "b": 2,
        "run_id": runs[1].pk,
        "slug": example.slug,
        "token": token,
        "link_id": link.pk,
        "team_id": team.pk,
        "comment_id": root.pk,
        "user_id": carol.pk,
        "token_id": api_token.pk,
        "sweep_id": sweep.pk,
    }
    notifications = {
        name: Notification.objects.filter(recipient__username=name).first()
        for name in ("alice", "dave")
    }
    assert notifications["alice"] and notifications["dave"], notifications
    return {
        "scenario": scenario,
        "users": {"alice": alice, "dave": dave},
        "params": params,
        "notification": {k: n.pk for k, n in notifications.items()},
    }


def _named_routes():
    from django.urls import URLPattern, URLResolver, get_resolver

    def walk(patterns):
        for p in patterns:
            if isinstance(p, URLResolver):
                if p.namespace in ("admin", "api"):
                    # staff only (tests/web/test_admin.py); the JSON API takes no
                    # session (tests/web/test_api.py walks it)
                    continue
                yield from walk(p.url_patterns)
            elif isinstance(p, URLPattern) and p.name:
                yield p

    return list(walk(get_resolver().url_patterns))


def route_urls(params: dict) -> list[tuple[str, str]]:
    """(name, url) of every named route, its parameters filled from the world."""
    from django.urls import reverse

    urls = []
    for pattern in _named_routes():
        kwargs = {p: params[p] for p in pattern.pattern.converters}
        if pattern.name == "help":
            kwargs["slug"] = "topology"
        urls.append((pattern.name, reverse(pattern.name, kwargs=kwargs)))
    return urls


class Visitor:
    """One browser context (a user, or nobody) and what it recorded."""

    def __init__(self, browser: Browser, base_url: str, user=None) -> None:
        from django.test import Client

        self.client = Client()
        if user is not None:
            self.client.force_login(user)
        self.context = browser.new_context(
            base_url=base_url,
            viewport={"width": 1280, "height": 900},
            accept_downloads=True,
        )
        self.context.set_default_timeout(15_000)
        self.context.add_init_script(RECORD_VIOLATIONS_JS)
        self.page = self.context.new_page()
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("dialog", self._dialog)
        self.page.on(
            "pageerror", lambda exc: self.errors.append(f"{self.page.url}: {exc}")
        )
        self.visited: dict[str, int] = {}

    def _dialog(self, dialog) -> None:
        self.dialogs.append(f"{self.page.url}: {dialog.type} {dialog.message}")
        dialog.dismiss()

    def log_in(self, username: str) -> None:
        page = self.page
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name=re.compile("Log in", re.I)).click()
        expect(
            page.get_by_role("heading", name="Scenarios", exact=True)
        ).to_be_visible()

    def assert_clean(self, where: str) -> None:
        page = self.page
        page.wait_for_timeout(100)  # an onerror / onload would have fired by now
        assert page.evaluate("typeof window.__xss") == "undefined", (
            f"a payload ran on {where}: window.__xss = {page.evaluate('window.__xss')}"
        )
        assert page.evaluate("window.__csp || []") == [], where
        assert page.evaluate(RAW_MARKUP_JS) == [], where
        assert self.dialogs == [], where

    def visit(self, name: str, url: str) -> None:
        """Open `url` if a GET serves a page there, wait for it to draw, check it.

        What a GET answers is asked in-process first (the same user, through
        Django's test client): a 403 logs its PermissionDenied on the server, which
        the `app_server` fixture counts as an unexpected exception.
        """
        head = self.client.get(url)
        self.visited[name] = head.status_code
        if head.status_code != 200:
            # A redirect (checked where it lands), an unsafe-only route (405), or
            # one this user may not see (403/404): no user text on those.
            assert head.status_code in (302, 400, 403, 404, 405), (url, head)
            return
        kind = head.get("Content-Type", "")
        if name == "healthz":
            # A constant "ok" for load balancers, answered before the middleware.
            assert kind.startswith("text/plain") and head.content == b"ok", url
            return
        if not kind.startswith("text/html"):
            # Downloads and data: never sniffed into HTML (test_xss_headers.py too).
            assert head.get("X-Content-Type-Options") == "nosniff", url
            return
        response = self.page.goto(url)
        assert response.status == 200, url
        self.page.wait_for_load_state("load")
        self.wait_for_drawing()
        self.assert_clean(f"{name} {url}")

    def wait_for_drawing(self) -> None:
        page = self.page
        if page.locator("#designer").count():
            try:
                expect(page.locator("#designer")).to_have_attribute("data-ready", "1")
            except AssertionError:
                raise AssertionError(
                    f"the designer did not draw on {page.url}: {self.errors}"
                ) from None
        if page.locator("#diff-canvas").count():
            page.wait_for_function("() => window.scaleboardDiff !== undefined")

    def click_node(self, node_id: str) -> None:
        page = self.page
        pos = page.evaluate(
            "id => window.scaleboardDesigner.cy.getElementById(id).renderedPosition()",
            node_id,
        )
        box = page.locator("#canvas").bounding_box()
        page.mouse.click(box["x"] + pos["x"], box["y"] + pos["y"])

    def close(self) -> None:
        self.context.close()


def _visit_all(visitor: Visitor, urls: list[tuple[str, str]]) -> None:
    for name, url in urls:
        visitor.visit(name, url)
    assert visitor.errors == [], visitor.errors


def _designer_inspector_is_clean(visitor: Visitor, url: str) -> None:
    """A click on a component opens the inspector (where the page has one), which
    shows the payload-named region as a value; clicks run nothing either."""
    page = visitor.page
    page.goto(url)
    visitor.wait_for_drawing()
    has_inspector = page.locator("#inspector").count() > 0
    visitor.click_node("web")
    if has_inspector:
        inspector = page.locator("#inspector")
        expect(inspector.locator("[name=subject]")).to_have_value("web")
        shown = page.evaluate(
            """region => Array.from(document.querySelectorAll("#inspector input"))
                 .some(i => i.value === region)""",
            REGION,
        )
        assert shown, inspector.inner_html()
    visitor.click_node("cache")
    if has_inspector:
        expect(page.locator("#inspector [name=subject]")).to_have_value("cache")
    visitor.assert_clean(f"designer {url} after clicks")


def test_no_user_text_runs_as_script_on_any_page(app_server, browser, xss_world):
    params = xss_world["params"]
    scenario = xss_world["scenario"]
    base = app_server.url

    # The owner: every page.
    alice = Visitor(browser, base, xss_world["users"]["alice"])
    alice.log_in("alice")
    alice_urls = route_urls(
        {**params, "notification_id": xss_world["notification"]["alice"]}
    )
    _visit_all(alice, alice_urls)
    pages = {n for n, status in alice.visited.items() if status == 200}
    for expected in (
        "scenario_list",
        "scenario_detail",
        "scenario_version",
        "scenario_diff",
        "review_detail",
        "review_markdown",
        "inbox",
        "team_list",
        "team_detail",
        "team_activity",
        "share_manage",
        "run_list",
        "run_detail",
        "run_report",
        "run_report_json",
        "shared_scenario",
        "shared_run",
    ):
        assert expected in pages, (expected, alice.visited)

    # The payloads are shown as text, not dropped and not markup.
    page = alice.page
    page.goto("/")
    expect(page.locator("main")).to_contain_text(SCENARIO_NAME)
    expect(page.locator("main")).to_contain_text(TEAM_NAME)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "xss-list.png"), full_page=True)
    page.goto(f"/scenarios/{scenario.pk}/versions/2/review/")
    visitor_text = page.locator("main")
    expect(visitor_text).to_contain_text(QUESTION)
    expect(visitor_text).to_contain_text(NOTE)
    expect(page.locator(".thread").first).to_contain_text(SCRIPT)
    expect(page.locator(".thread").first).to_contain_text(IMG)
    expect(page.locator(".thread").first).to_contain_text("{{7*7}}")
    expect(page.locator(".thread").first).to_contain_text("a < b && c > d")
    # The javascript: links keep their words and lose their href.
    links = page.locator(".thread a", has_text="the docs")
    expect(links).to_have_count(2)  # the comment on the cache and the one on a run
    assert [links.nth(i).get_attribute("href") for i in range(2)] == [None, None]
    page.screenshot(path=str(SHOTS / "xss-review.png"), full_page=True)
    alice.assert_clean("review page, reread")
    page.goto(f"/scenarios/{scenario.pk}/")
    expect(page.locator("#document")).to_have_value(re.compile(re.escape(END_TEXTAREA)))
    assert page.title().startswith("Shop <script>")
    _designer_inspector_is_clean(alice, f"/scenarios/{scenario.pk}/")
    alice.close()

    # A team viewer: every page again (read-only designer, no forms).
    dave = Visitor(browser, base, xss_world["users"]["dave"])
    dave.log_in("dave")
    _visit_all(
        dave,
        route_urls({**params, "notification_id": xss_world["notification"]["dave"]}),
    )
    assert dave.visited["review_detail"] == 200 and dave.visited["inbox"] == 200
    _designer_inspector_is_clean(dave, f"/scenarios/{scenario.pk}/")
    dave.close()

    # Nobody signed in, through the share link: every page under /s/.
    anonymous = Visitor(browser, base)
    shared = [(n, u) for n, u in alice_urls if u.startswith("/s/")]
    assert len(shared) >= 5, shared
    _visit_all(anonymous, shared)
    assert anonymous.visited["shared_scenario"] == 200
    assert anonymous.visited["shared_run"] == 200
    anonymous.page.goto(f"/s/{params['token']}/")
    expect(anonymous.page.locator("main")).to_contain_text(SCENARIO_NAME)
    _designer_inspector_is_clean(anonymous, f"/s/{params['token']}/")
    anonymous.close()
