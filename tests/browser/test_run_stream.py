"""Issue 11: the run page's stream recovers, in a real browser against a real server.

Playwright's WebSocket routing stands in for a failing server: the first connections
open and are closed at once with 1011 (what Daphne did with an oversized catch-up), so
the page's backoff must keep growing across them; then the real server is let through
and the page catches up on everything stored while it was away, in pages. A dropped
socket after a good spell reconnects at the base delay and ends complete again.
Delays are read from what run.js computed, never timed.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import Page, expect

from dashboard.runs.models import Run, RunSnapshot
from dashboard.scenarios.services import scenario_create
from tests.web.factories import SMALL_DOC

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

PASSWORD = "correct-Horse-battery-42"
FAILING_OPENS = 4


def _store(run: Run, seqs) -> None:
    RunSnapshot.objects.bulk_create(
        RunSnapshot(
            run=run,
            seq=seq,
            data={"seq": seq, "t_s": float(seq), "rps": 10.0, "replication": 0},
        )
        for seq in seqs
    )


def _running_run() -> Run:
    owner = get_user_model().objects.create_user("stream", password=PASSWORD)
    scenario = scenario_create(owner=owner, text=SMALL_DOC)
    # A run "being executed" with a heartbeat far ahead: the reaper leaves it alone,
    # and the test decides what is stored.
    return Run.objects.create(
        owner=owner,
        scenario=scenario,
        version=scenario.latest_version,
        name="stream",
        document_text=SMALL_DOC,
        seed=1,
        status=Run.Status.RUNNING,
        heartbeat_at=timezone.now() + timezone.timedelta(days=1),
    )


def _log_in(page: Page) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("stream")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("Log in|Sign in")).click()
    expect(page).not_to_have_url(re.compile("/accounts/login/"))


def _stream(page: Page) -> dict:
    return page.evaluate("() => window.scaleboardRun.stream()")


def _wait_until_holding(page: Page, count: int) -> None:
    page.wait_for_function(
        """(count) => {
          const s = window.scaleboardRun.stream();
          return s.held === count && s.lastContiguous === count - 1 && !s.catchingUp;
        }""",
        arg=count,
        timeout=60_000,
    )


def test_the_run_page_backs_off_across_failing_opens_then_catches_up_and_recovers(
    page: Page, page_errors
):
    run = _running_run()
    _store(run, range(200))
    routes = []

    def handler(ws):
        if len(routes) < FAILING_OPENS:
            routes.append(None)
            ws.send('{"type": "status", "status": "running", "error": ""}')
            ws.close(code=1011, reason="failing open")
            return
        ws.connect_to_server()
        routes.append(ws)

    page.route_web_socket(re.compile(r"/ws/runs/"), handler)
    _log_in(page)
    page.goto(f"/runs/{run.pk}/")
    # While the page cannot connect, the run goes on: far more than one page's worth
    # (and more than the outline threshold) is stored.
    _store(run, range(200, 3000))
    _wait_until_holding(page, 3000)

    stream = _stream(page)
    assert stream["attempts"] == FAILING_OPENS + 1
    assert stream["closes"] == [1011] * FAILING_OPENS
    delays = stream["delays"]
    assert len(delays) == FAILING_OPENS
    assert delays == sorted(delays) and delays[-1] > 2 * delays[0]  # it kept growing

    # A good spell (open and delivering for longer than run.js's STABLE_MS), then the
    # connection drops while more is stored: back to the base delay, complete again.
    page.wait_for_timeout(5500)
    _store(run, range(3000, 3100))
    routes[-1].close(code=1011, reason="dropped")
    _wait_until_holding(page, 3100)
    after_drop = _stream(page)
    assert after_drop["attempts"] == FAILING_OPENS + 2
    assert after_drop["delays"][-1] <= 500
    expect(page.locator("#live-info")).to_have_attribute("data-count", "3100")
    assert page_errors == []
