"""The run page's event log, as a user sees it: a web server killed by a fault, the
balancer's health check taking it out and putting it back, in simulated time."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_first_run import press_run, sign_up, status

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

FAULTY = """\
scaleboard: 1
name: A web server dies
simulation: {duration_s: 20, warmup_s: 1, seed: 3, snapshot_s: 1}
workload: {target: lb, rps: 150}
components:
  lb: {type: load_balancer, targets: [web], health_check: {interval_s: 1, unhealthy_after: 2}}
  web: {type: service, instances: 3, cores: 2, work_ms: 10}
faults:
  - {at_s: 6, component: web, instance: 1, for_s: 6}
"""


def test_the_event_log_lists_the_fault_and_the_health_check_in_order(
    page: Page, page_errors
):
    from django.contrib.auth.models import User

    from dashboard.scenarios.services import scenario_create

    sign_up(page, "operator")
    scenario = scenario_create(owner=User.objects.get(username="operator"), text=FAULTY)
    page.goto(f"/scenarios/{scenario.pk}/")
    press_run(page)
    expect(status(page)).to_have_text("succeeded", timeout=60_000)

    log = page.get_by_test_id("event-log").locator("li")
    expect(log).to_have_count(4)
    texts = log.all_inner_texts()
    assert "web: web-1 down" in texts[0] and "t=6 s" in texts[0]
    assert "lb: web-1 out of rotation (2 checks failed)" in texts[1]
    assert "web: web-1 back up" in texts[2] and "t=12 s" in texts[2]
    assert "back in rotation" in texts[3]
    expect(page.locator("#event-log-empty")).to_be_hidden()

    page.reload()  # the stored snapshots carry the same log
    expect(page.get_by_test_id("event-log").locator("li")).to_have_count(4)
