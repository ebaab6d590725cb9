"""Reliability row 18 in a real browser: every page works under the CSP with no
violation (no inline script, no inline <style>, the WebSocket allowed by 'self')."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_first_run import (
    SHORT_DURATION_S,
    example_name,
    expect_final_report,
    open_example_copy,
    press_run,
    set_duration,
    sign_up,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

# Recorded before any page script runs: every CSP violation the page reports.
RECORD_VIOLATIONS_JS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def violations(page: Page) -> list[str]:
    return page.evaluate("window.__csp || []")


def test_designer_list_and_run_pages_work_under_the_csp(page: Page, page_errors):
    console = []
    page.on(
        "console",
        lambda msg: (
            console.append(msg.text) if "Content Security Policy" in msg.text else None
        ),
    )
    page.context.add_init_script(RECORD_VIOLATIONS_JS)
    seen: list[str] = []

    sign_up(page, "careful")
    seen += violations(page)
    response = page.request.get("/")
    assert "script-src 'self'" in response.headers["content-security-policy"]

    open_example_copy(page, example_name())
    expect(page.locator("#designer")).to_have_attribute("data-ready", "1")
    assert page.evaluate("window.scaleboardDesigner.cy.nodes().length") > 0
    # The canvas really drew (Cytoscape's container rule came from designer.css).
    assert page.evaluate(
        "getComputedStyle(document.querySelector('#canvas')).position"
    ) in ("relative", "absolute")
    seen += violations(page)

    set_duration(page, SHORT_DURATION_S)
    run_id = press_run(page)
    expect_final_report(page)  # the live stream arrived over the WebSocket
    expect(page.locator("#live-info")).to_have_attribute(
        "data-count", re.compile(r"^[1-9]")
    )
    seen += violations(page)

    page.goto(f"/runs/{run_id}/")
    expect_final_report(page)
    page.get_by_role("navigation").get_by_role("link", name="Scenarios").click()
    expect(page.get_by_role("heading", name="Scenarios", exact=True)).to_be_visible()
    seen += violations(page)

    assert seen == [], seen
    assert console == [], console
    assert page_errors == []
