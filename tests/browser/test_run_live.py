"""The live run page as a user watches it, in a real browser against a real server.

The case study's step 4 (three web servers behind a balancer, a cache, PostgreSQL)
with a web server killed by a document fault: the canvas colours every measured
component by utilization and turns the web tier red with a "down" mark, the event
shows in the log and as a mark on the charts, a click on a node opens its own charts,
and a reload mid-run ends with every stored snapshot once (seq lists compared). Two
members of one team on one run page see each other watching.

Screenshots of the page mid-run and finished go to /tmp/shots/live-*.png.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_first_run import (
    PASSWORD,
    press_run,
    sign_up,
    status,
    stored_snapshot_count,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

SHOTS = Path("/tmp/shots")
STEP4 = Path(__file__).resolve().parents[2] / "examples" / "case-study-step4.yaml"
# Long enough to watch (several seconds of wall time), the web server down from
# t=40 s to t=2,540 s, so the page is looked at while it is down.
FAULT_AT_S = 40


def _step4_with_a_fault(duration_s: int = 4000) -> str:
    text = STEP4.read_text()
    text = text.replace(
        "simulation: {duration_s: 300, warmup_s: 10, seed: 1, snapshot_s: 5}",
        f"simulation: {{duration_s: {duration_s}, warmup_s: 10, seed: 1, snapshot_s: 5}}",
    )
    assert f"duration_s: {duration_s}" in text
    return text + (
        f"faults:\n  - {{at_s: {FAULT_AT_S}, component: web, instance: 1, for_s: 2500}}\n"
    )


def _canvas(page: Page) -> dict:
    return page.evaluate("() => window.scaleboardRun.canvas()")


def _stream(page: Page) -> dict:
    return page.evaluate("() => window.scaleboardRun.stream()")


def _seqs(page: Page) -> list[int]:
    return page.evaluate("() => window.scaleboardRun.seqs()")


def _wait_until_web_is_down(page: Page) -> None:
    page.wait_for_function(
        """() => {
          const c = window.scaleboardRun && window.scaleboardRun.canvas();
          return c && c.web && c.web.down
            && document.getElementById("run-status").textContent.trim() === "running";
        }""",
        timeout=90_000,
    )


def _click_node(page: Page, component: str) -> None:
    point = page.evaluate("(id) => window.scaleboardRun.nodePoint(id)", component)
    page.mouse.click(point["x"], point["y"])


def test_the_canvas_goes_red_on_a_fault_the_event_is_marked_and_a_node_opens_its_charts(
    page: Page, page_errors
):
    from django.contrib.auth.models import User

    from dashboard.scenarios.services import scenario_create

    SHOTS.mkdir(exist_ok=True)
    sign_up(page, "operator")
    scenario = scenario_create(
        owner=User.objects.get(username="operator"), text=_step4_with_a_fault()
    )
    page.goto(f"/scenarios/{scenario.pk}/")
    run_id = press_run(page)
    expect(page.get_by_test_id("run-canvas")).to_be_visible()

    _wait_until_web_is_down(page)
    canvas = _canvas(page)
    # Measured components are coloured by their utilization; the balancer and the
    # cache have no capacity of their own (grey).
    assert canvas["web"]["level"] in {"ok", "warm", "hot"}
    assert canvas["postgres"]["level"] in {"ok", "warm", "hot"}
    assert canvas["lb"]["level"] == "none" and canvas["cache"]["level"] == "none"
    assert canvas["web"]["instances_down"] == ["web-1"]
    assert not canvas["postgres"]["down"]
    expect(page.get_by_test_id("badge-web")).to_contain_text(re.compile(r"DOWN web-1"))
    expect(page.get_by_test_id("badge-web")).to_contain_text(re.compile(r"\d+% busy"))
    expect(page.get_by_test_id("badge-cache")).to_contain_text(re.compile(r"\d+% hits"))
    expect(page.get_by_test_id("badge-postgres")).to_contain_text("queue")
    # The node itself is drawn red (Cytoscape's canvas: its class and colour).
    web_colour = page.evaluate(
        """() => {
          const cy = window.scaleboardRun.cy();
          return cy.getElementById("web").style("background-color");
        }"""
    )
    assert web_colour == "rgb(254,202,202)", web_colour

    # The event is in the log, and marked on every chart with its kind in the legend.
    expect(page.get_by_test_id("event-log")).to_contain_text("web: web-1 down")
    expect(page.get_by_test_id("event-legend")).to_contain_text("instance down")
    # (uPlot draws on the next frame: wait for the frame that has the event.)
    for chart in ("chart-rps", "chart-latency", "chart-failures", "chart-hit-ratio"):
        expect(page.locator(f"#{chart} .uplot")).to_have_attribute(
            "data-marks", re.compile(r"^[1-9]\d*$")
        )
    page.wait_for_function(f"() => ({RED_DASHES_JS})('chart-rps') > 10")

    # A click on the web tier opens its own charts.
    _click_node(page, "web")
    panel = page.get_by_test_id("node-panel")
    expect(panel).to_be_visible()
    expect(panel.locator("h2")).to_contain_text("web")
    series = panel.locator(".node-chart").evaluate_all(
        "(els) => els.map((e) => e.dataset.series)"
    )
    assert series == ["utilization", "throughput_rps", "queue_mean", "instances"]
    expect(panel.locator(".node-chart canvas").first).to_be_visible()
    page.screenshot(path=str(SHOTS / "live-midrun.png"), full_page=True)
    # From the keyboard: the select beside the canvas opens another one's charts.
    page.get_by_test_id("node-select").select_option("postgres")
    expect(panel.locator("h2")).to_contain_text("postgres")
    expect(panel.locator(".node-chart")).to_have_count(3)

    # A reload mid-run: the page catches up from storage and goes live again; at the
    # end it holds every stored snapshot once, in order, with no gap.
    page.reload()
    page.wait_for_function(
        "() => window.scaleboardRun && window.scaleboardRun.stream().pages.length > 0"
    )
    assert _stream(page)["pages"][0]["after"] == -1
    expect(status(page)).to_have_text("succeeded", timeout=180_000)
    page.wait_for_function(
        "(n) => window.scaleboardRun.stream().held === n",
        arg=stored_snapshot_count(run_id),
    )
    stored = stored_snapshot_count(run_id)
    assert _seqs(page) == list(range(stored))
    assert _stream(page)["lastContiguous"] == stored - 1
    expect(page.get_by_test_id("event-log")).to_contain_text("web: web-1 back up")
    page.wait_for_function("() => window.scaleboardRun.canvas().web.down === false")
    expect(page.locator("#report").get_by_test_id("latency")).to_be_visible()
    page.screenshot(path=str(SHOTS / "live-finished.png"), full_page=True)
    assert page_errors == []


# Pixels of a chart drawn in the fault marks' red (run-charts.js: instance_down).
RED_DASHES_JS = """(id) => {
    const canvas = document.querySelector("#" + id + " canvas");
    const px = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < px.length; i += 4) {
      if (Math.abs(px[i] - 0xdc) < 30 && Math.abs(px[i + 1] - 0x26) < 30
          && Math.abs(px[i + 2] - 0x26) < 30 && px[i + 3] > 128) n++;
    }
    return n;
}"""


def _log_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("Log in|Sign in")).click()
    expect(page).not_to_have_url(re.compile("/accounts/login/"))


def test_two_members_of_one_team_see_each_other_watching(
    app_server, browser, page_errors
):
    from django.contrib.auth.models import User
    from django.utils import timezone

    from dashboard.runs.models import Run
    from dashboard.scenarios.services import scenario_create
    from dashboard.teams.models import Role
    from dashboard.teams.services import member_add, team_create
    from tests.web.factories import SMALL_DOC

    alice = User.objects.create_user("alice", password=PASSWORD)
    User.objects.create_user("carol", password=PASSWORD)
    team = team_create(creator=alice, name="Platform")
    member_add(team=team, username="carol", role=Role.VIEWER, added_by=alice)
    scenario = scenario_create(owner=alice, text=SMALL_DOC, team=team)
    # A run "being executed" (heartbeat far ahead: the reaper leaves it alone).
    run = Run.objects.create(
        owner=alice,
        scenario=scenario,
        version=scenario.latest_version,
        name="watched",
        document_text=SMALL_DOC,
        seed=1,
        status=Run.Status.RUNNING,
        started_at=timezone.now(),
        heartbeat_at=timezone.now() + timezone.timedelta(days=1),
    )
    pages = {}
    for name in ("alice", "carol"):
        context = browser.new_context(
            base_url=app_server.url, viewport={"width": 1280, "height": 900}
        )
        page = context.new_page()
        page.on("pageerror", lambda exc: page_errors.append(exc.message))
        _log_in(page, name)
        page.goto(f"/runs/{run.pk}/")
        pages[name] = page

    expect(pages["alice"].get_by_test_id("presence")).to_have_text(
        "Watching now: alice (you), carol"
    )
    expect(pages["carol"].get_by_test_id("presence")).to_have_text(
        "Watching now: alice, carol (you)"
    )
    pages["carol"].context.close()
    expect(pages["alice"].get_by_test_id("presence")).to_have_text(
        "Watching now: alice (you)"
    )
    pages["alice"].context.close()
    assert page_errors == []


def _member_page(browser, app_server, page_errors, username: str) -> Page:
    context = browser.new_context(
        base_url=app_server.url, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.on("pageerror", lambda exc: page_errors.append(f"{username}: {exc.message}"))
    page.on(
        "console",
        lambda msg: (
            page_errors.append(f"{username} console.error: {msg.text}")
            if msg.type == "error"
            and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    _log_in(page, username)
    return page


def _held_contiguous(page: Page) -> None:
    """Until the page holds a contiguous run of seqs from 0 and is not catching up."""
    page.wait_for_function(
        """() => {
          const s = window.scaleboardRun && window.scaleboardRun.stream();
          return s && !s.catchingUp && s.held > 0 && s.lastContiguous === s.held - 1;
        }""",
        timeout=60_000,
    )


def test_two_members_watch_a_paced_run_one_injects_a_fault_and_both_see_it_land(
    app_server, browser, page_errors
):
    from django.contrib.auth.models import User

    from dashboard.runs.models import Run
    from dashboard.scenarios.services import scenario_create
    from dashboard.teams.models import Role
    from dashboard.teams.services import member_add, team_create

    SHOTS.mkdir(exist_ok=True)
    alice = User.objects.create_user("alice", password=PASSWORD)
    User.objects.create_user("carol", password=PASSWORD)
    team = team_create(creator=alice, name="Platform")
    member_add(team=team, username="carol", role=Role.EDITOR, added_by=alice)
    text = STEP4.read_text().replace("duration_s: 300", "duration_s: 1200")
    scenario = scenario_create(owner=alice, text=text, team=team)

    a = _member_page(browser, app_server, page_errors, "alice")
    a.goto(f"/scenarios/{scenario.pk}/")
    a.get_by_label("Pace").select_option(value="20")
    run_id = press_run(a)
    c = _member_page(browser, app_server, page_errors, "carol")
    c.goto(f"/runs/{run_id}/")
    for page in (a, c):
        expect(status(page)).to_have_text("running", timeout=60_000)
    expect(a.get_by_test_id("presence")).to_have_text(
        "Watching now: alice (you), carol"
    )
    expect(c.get_by_test_id("presence")).to_have_text(
        "Watching now: alice, carol (you)"
    )

    # carol takes every web server down for 20 simulated seconds.
    panel = c.get_by_test_id("whatif")
    panel.get_by_label("Component").select_option(label="web (service)")
    # (Each component's targets are options of one select: "every instance" of web.)
    index = panel.locator("#whatif-target option").evaluate_all(
        "(os) => os.findIndex((o) => o.dataset.component === 'web' && o.value === 'all')"
    )
    panel.get_by_label("What").select_option(index=index)
    panel.get_by_label("For").fill("20")
    panel.get_by_test_id("whatif-submit").click()
    expect(panel.get_by_test_id("whatif-result")).to_contain_text("Injected")

    for page in (a, c):
        injected = page.locator("#event-log li[data-kind='injected']")
        expect(injected).to_have_count(1, timeout=30_000)
        expect(injected).to_contain_text("carol")
        page.wait_for_function(
            "() => window.scaleboardRun.canvas().web.down === true", timeout=30_000
        )
        expect(page.get_by_test_id("event-legend")).to_contain_text("injected")
    injected_at = c.evaluate(
        """() => window.scaleboardRun.seqs().length && Number(
             document.querySelector("#event-log li[data-kind='injected'] .muted")
               .textContent.match(/t=([0-9.]+)/)[1])"""
    )
    # The error spike: failed requests after the injection, on both pages.
    for page in (a, c):
        page.wait_for_function(
            """(t) => {
              const d = window.scaleboardRun.chart();
              return d.x.some((x, i) => x > t && d.errors_per_s[i] > 10);
            }""",
            arg=injected_at,
            timeout=30_000,
        )
    c.screenshot(path=str(SHOTS / "live-whatif-injected.png"), full_page=True)

    # A reload mid-run catches up from storage without a gap or a duplicate.
    a.reload()
    _held_contiguous(a)
    seqs = _seqs(a)
    assert seqs == list(range(len(seqs)))
    expect(a.locator("#event-log li[data-kind='injected']")).to_have_count(1)
    assert run_row_status(run_id) == "running"

    # Cancel keeps a partial report; both pages end holding every stored snapshot.
    a.get_by_role("button", name="Cancel").click()
    for page in (a, c):
        expect(status(page)).to_have_text("cancelled", timeout=30_000)
    # The worker stops at its next heartbeat and keeps what it measured; both pages
    # then show that report, and the header's verdict says it is partial.
    for page in (a, c):
        expect(page.get_by_test_id("run-verdict")).to_contain_text(
            "partial report", timeout=30_000
        )
        expect(page.locator("#report").get_by_test_id("latency")).to_be_visible()
        expect(page.get_by_test_id("whatif")).to_be_hidden()
    run = Run.objects.get(pk=run_id)
    assert run.report["partial"]["measured_s"] > 0, run.report["partial"]
    stored = stored_snapshot_count(run_id)
    for page in (a, c):
        page.wait_for_function(
            "(n) => window.scaleboardRun.stream().held === n", arg=stored
        )
        assert _seqs(page) == list(range(stored))
    c.screenshot(path=str(SHOTS / "live-whatif-cancelled.png"), full_page=True)
    assert page_errors == []
    a.context.close()
    c.context.close()


def run_row_status(run_id: str) -> str:
    from dashboard.runs.models import Run

    return Run.objects.only("status").get(pk=run_id).status


STEP7 = STEP4.with_name("case-study-step7.yaml")


def test_a_sharded_replicated_database_gets_live_lag_and_shard_share_charts(
    page: Page, page_errors
):
    from django.contrib.auth.models import User

    from dashboard.scenarios.services import scenario_create

    SHOTS.mkdir(exist_ok=True)
    sign_up(page, "dba")
    scenario = scenario_create(
        owner=User.objects.get(username="dba"), text=STEP7.read_text()
    )
    page.goto(f"/scenarios/{scenario.pk}/")
    press_run(page)
    expect(status(page)).to_have_text("succeeded", timeout=120_000)
    for chart in ("chart-lag", "chart-shards"):
        expect(page.locator(f"#{chart} .uplot")).to_be_visible()
    # The lag chart draws a mean and a largest line for postgres, the share chart one
    # line per shard (uPlot's legend lists the series).
    expect(page.locator("#chart-lag .u-legend")).to_contain_text("postgres lag mean ms")
    expect(page.locator("#chart-lag .u-legend")).to_contain_text("postgres lag max ms")
    for k in range(4):
        expect(page.locator("#chart-shards .u-legend")).to_contain_text(
            f"postgres shard-{k}"
        )
    page.wait_for_function(
        "() => { const c = window.scaleboardRun.component('postgres');"
        " return c && c.shard_share.length === 4 && c.lag_mean_ms.some((v) => v !== null); }"
    )
    pg = page.evaluate("() => window.scaleboardRun.component('postgres')")
    # every window the page holds: the shares add up to 1 and the mean lag is near the
    # document's 40 ms (exponential; a window's mean of a few hundred lags)
    for i in range(len(pg["lag_mean_ms"])):
        shares = [pg["shard_share"][k][i] for k in range(4)]
        if None in shares:
            continue
        assert abs(sum(shares) - 1.0) < 1e-6
    lags = [v for v in pg["lag_mean_ms"] if v is not None]
    assert len(lags) > 50 and 30 < sum(lags) / len(lags) < 50
    expect(page.get_by_test_id("badge-postgres")).to_contain_text(re.compile(r"lag \d"))
    page.locator("#chart-lag").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "live-lag-shards.png"), full_page=True)
    assert page_errors == []


EXAMPLES = STEP4.parent


@pytest.mark.parametrize(
    ("example", "chart", "series"),
    [
        ("retry-storm", "chart-retries", "attempts/s (at the servers)"),
        ("checkout-payment-queue", "chart-queue-depth", "payments depth"),
        ("login-flow-closed", "chart-rps", "throughput rps"),
    ],
)
def test_the_new_models_draw_their_live_charts(
    page: Page, page_errors, example: str, chart: str, series: str
):
    # A retry storm, a payment queue and closed users, each run from its example
    # and watched: its own chart is drawn with data, its legend named (the rate
    # limit's 429 series: tests/web/test_run_live.py, to keep CI's browser time).
    from django.contrib.auth.models import User

    from dashboard.scenarios.services import scenario_create

    SHOTS.mkdir(exist_ok=True)
    user = f"u-{example}"[:30]
    sign_up(page, user)
    text = (EXAMPLES / f"{example}.yaml").read_text()
    scenario = scenario_create(owner=User.objects.get(username=user), text=text)
    page.goto(f"/scenarios/{scenario.pk}/")
    press_run(page)
    expect(status(page)).to_have_text("succeeded", timeout=180_000)
    expect(page.locator(f"#{chart} .u-legend")).to_contain_text(series)
    drawn = page.evaluate(
        """(label) => {
          const el = [...document.querySelectorAll(".u-legend .u-series")]
            .find((s) => s.textContent.includes(label));
          return Boolean(el);
        }""",
        series,
    )
    assert drawn
    if example == "retry-storm":
        # after the spike the servers see about four attempts per first send
        m = page.evaluate("() => window.scaleboardRun.stream()")
        assert m["held"] > 50
    if example == "checkout-payment-queue":
        depth = page.evaluate("() => window.scaleboardRun.component('payments').depth")
        assert any(v is not None for v in depth)
        expect(page.get_by_test_id("badge-payments")).to_contain_text("depth")
    if example == "login-flow-closed":
        label = page.evaluate(
            "() => window.scaleboardRun.cy().getElementById('__clients__')"
            ".data('display')"
        )
        assert "400 users" in label, label
    page.locator(f"#{chart}").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / f"live-{example}.png"), full_page=True)
    assert page_errors == []
