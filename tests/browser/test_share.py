"""A share link in a real browser: alice makes one on her scenario's page, a visitor
without an account opens it and sees the designer read-only and a run's report, then
watches alice's next run live; alice revokes the link, the visitor's live stream stops
at once and their next load is a 404."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

PASSWORD = "alice-Share-pass-42"
SHOTS = Path("/tmp/shots")
# Long enough to be still running when the link is revoked (cancelled at the end).
LIVE_DURATION_S = 9000
SHARE_URL = re.compile(r"^http://127\.0\.0\.1:\d+/s/[A-Za-z0-9_-]{43}/$")


def _alice_with_a_run():
    from django.contrib.auth.models import User
    from django.db import connections

    from dashboard.runs import execution
    from dashboard.scenarios.services import scenario_create
    from tests.web.factories import SMALL_DOC, make_run

    alice = User.objects.create_user("alice", password=PASSWORD)
    scenario = scenario_create(owner=alice, text=SMALL_DOC)
    run = make_run(alice, scenario)

    def execute() -> None:
        # Not on this thread: Playwright's event loop runs here, and the run
        # publishes its snapshots through async_to_sync.
        try:
            execution.run_execute(run_id=run.pk)
        finally:
            connections.close_all()

    worker = threading.Thread(target=execute)
    worker.start()
    worker.join(timeout=60)
    run.refresh_from_db()
    assert run.status == run.Status.SUCCEEDED, run.error
    return scenario, run


def _errors_of(page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc.message}"))
    page.on(
        "console",
        lambda msg: (
            errors.append(f"console: {msg.text}")
            if msg.type == "error"
            and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    return errors


def test_a_share_link_shows_the_scenario_read_only_until_it_is_revoked(
    app_server, browser, page, page_errors
):
    scenario, run = _alice_with_a_run()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"/scenarios/{scenario.pk}/")

    panel = page.locator("#share-panel")
    panel.get_by_text("New share link").click()
    panel.get_by_label("Label").fill("ops review")
    panel.get_by_label("Expires").select_option("7d")
    panel.get_by_role("button", name="Create share link").click()
    created = page.get_by_test_id("share-created")
    expect(created).to_contain_text("only time it is shown")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "share-created.png"), full_page=True)
    url = page.get_by_test_id("share-url").input_value()
    assert SHARE_URL.match(url), url
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#copy-status")).not_to_be_empty()

    visitor_context = browser.new_context(viewport={"width": 1280, "height": 900})
    visitor_context.set_default_timeout(15_000)
    visitor = visitor_context.new_page()
    visitor_errors = _errors_of(visitor)
    response = visitor.goto(url)
    assert response.status == 200
    assert response.headers["referrer-policy"] == "no-referrer"
    expect(visitor.get_by_test_id("share-banner")).to_contain_text(
        "Shared read-only by alice"
    )
    designer = visitor.locator("#designer")
    expect(designer).to_have_attribute("data-readonly", "true")
    try:
        expect(designer).to_have_attribute("data-ready", "1")
    except AssertionError:
        raise AssertionError(f"the designer did not draw: {visitor_errors}") from None
    nodes = visitor.evaluate("() => window.scaleboardDesigner.cy.nodes().length")
    assert nodes >= 2
    for name in ("Run", "Save version", "Cancel"):
        expect(visitor.get_by_role("button", name=name, exact=True)).to_have_count(0)
    expect(visitor.get_by_role("link", name="Log out")).to_have_count(0)
    visitor.screenshot(path=str(SHOTS / "share.png"), full_page=True)

    visitor.locator("ul.runs a").first.click()
    expect(visitor).to_have_url(re.compile(rf"/s/[^/]+/runs/{run.pk}/$"))
    expect(visitor.get_by_test_id("latency")).to_be_visible()
    expect(visitor.get_by_test_id("run-status")).to_have_text("succeeded")
    visitor.screenshot(path=str(SHOTS / "share-run.png"), full_page=True)

    # alice runs a long version; the visitor watches it live through the link.
    page.goto(f"/scenarios/{scenario.pk}/")
    editor = page.get_by_label(re.compile(r"^Topology document"))
    editor.fill(
        re.sub(
            r"duration_s: \d+", f"duration_s: {LIVE_DURATION_S}", editor.input_value()
        )
    )
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}/$"))
    live_id = page.url.rstrip("/").split("/")[-1]
    visitor.goto(url.rstrip("/") + f"/runs/{live_id}/")
    visitor.wait_for_function(
        """() => Number(document.getElementById("live-info").dataset.count || 0) >= 3
               && document.getElementById("run-status").textContent.trim() === "running"
        """,
        timeout=60_000,
    )
    expect(visitor.get_by_role("button", name="Cancel")).to_have_count(0)

    page.goto(f"/scenarios/{scenario.pk}/")
    page.locator("#share-panel").screenshot(path=str(SHOTS / "share-panel.png"))
    page.goto(f"/scenarios/{scenario.pk}/share/")
    page.get_by_role("button", name=re.compile("^Revoke share link")).click()
    expect(page.get_by_test_id("share-table")).to_contain_text("revoked")
    # The open socket is closed at once, and the page says why.
    expect(visitor.locator("#run-error")).to_have_text(
        "This share link was revoked or has expired."
    )
    closes = visitor.evaluate("() => window.scaleboardRun.stream().closes")
    assert closes[-1:] == [4410], closes

    page.goto(f"/runs/{live_id}/")
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_test_id("run-status")).to_have_text("cancelled")

    gone = visitor.reload()
    assert gone.status == 404
    gone = visitor.goto(url)
    assert gone.status == 404
    assert visitor_errors == []
    assert page_errors == []
    visitor_context.close()
