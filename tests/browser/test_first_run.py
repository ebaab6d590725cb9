"""A new user's first run, in a real browser against a real server.

Sign up, open a copy of the web-tier example, press Run, watch the chart grow while the
run is running, read the report. Also: a reload mid-run shows the stored snapshots (the
socket's catch-up) and then the live ones, Cancel stops a run, and an invalid document gets an inline error
naming the field path and saves nothing.
"""

from __future__ import annotations

import re

import pytest
import yaml
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

EXAMPLE_SLUG = "web-tier"
PASSWORD = "correct-Horse-battery-42"
RUN_URL = re.compile(r"/runs/[0-9a-f-]{36}/$")
EDITOR_URL = re.compile(r"/scenarios/(\d+)/$")
# Simulated seconds for runs the tests watch live. The example's own 60 s take well
# under a second of wall time; 1,800 s (about a million requests) take several, long
# enough to reload the page mid-run and see many live messages (the server sends at
# most 10 a second) however fast the engine gets on a fast machine, and short enough to
# keep the suite quick. A run to be cancelled is made five times longer so it cannot
# finish first (9,005 snapshots: under RUN_MAX_SNAPSHOTS).
LIVE_DURATION_S = 1800
CANCEL_DURATION_S = 9000
SHORT_DURATION_S = 30
RUN_FINISH_TIMEOUT_MS = 60_000


# --- What a user does -------------------------------------------------------------


def sign_up(page: Page, username: str) -> None:
    page.goto("/accounts/signup/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Scenarios", exact=True)).to_be_visible()


def example_name() -> str:
    from dashboard.scenarios.models import Scenario

    example = Scenario.objects.filter(is_example=True, slug=EXAMPLE_SLUG).first()
    assert example is not None, f"examples/{EXAMPLE_SLUG}.yaml was not loaded"
    return example.name


def open_example_copy(page: Page, name: str) -> int:
    """Open the example's card (read-only), then "Make a copy"; returns the new
    scenario's id."""
    card = page.locator("li.card").filter(
        has=page.get_by_role("heading", name=name, exact=True)
    )
    card.get_by_role("link", name=f"Open the example {name}").click()
    expect(page.get_by_test_id("readonly-note")).to_be_visible()
    example_url = page.url
    page.get_by_role("button", name="Make a copy").click()
    page.wait_for_url(lambda url: url != example_url)
    expect(page).to_have_url(EDITOR_URL)
    expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
    return int(EDITOR_URL.search(page.url).group(1))


def editor(page: Page):
    return page.get_by_label(re.compile(r"^Topology document"))


def set_duration(page: Page, seconds: int) -> None:
    """Edit simulation.duration_s in the editor's text, as a user would."""
    text = editor(page).input_value()
    edited, n = re.subn(r"\bduration_s:\s*[0-9.]+", f"duration_s: {seconds}", text)
    assert n == 1, f"expected one duration_s in the example, found {n}:\n{text}"
    editor(page).fill(edited)


def press_run(page: Page) -> str:
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page).to_have_url(RUN_URL)
    return RUN_URL.search(page.url).group(0).split("/")[2]


def start_run(page: Page, duration_s: int) -> str:
    sign_up(page, "newcomer")
    open_example_copy(page, example_name())
    set_duration(page, duration_s)
    return press_run(page)


# --- What the run page shows --------------------------------------------------------


def status(page: Page):
    return page.get_by_test_id("run-status")


def shown_count(page: Page) -> int:
    raw = page.locator("#live-info").get_attribute("data-count")
    return int(raw) if raw else 0


def wait_for_live_snapshots(page: Page, at_least: int) -> None:
    page.wait_for_function(
        """(n) => Number(document.getElementById("live-info").dataset.count || 0) >= n
               && document.getElementById("run-status").textContent.trim() === "running"
        """,
        arg=at_least,
        timeout=RUN_FINISH_TIMEOUT_MS,
    )


def wait_for_stored_snapshots(page: Page, run_id: str) -> None:
    """Until the worker has written some snapshots (it stores them once a second)."""
    for _ in range(150):
        if stored_snapshot_count(run_id) > 0:
            return
        page.wait_for_timeout(200)
    pytest.fail("the run stored no snapshots")


def recorded_counts(page: Page) -> list[dict]:
    """Every data-count the page set since it loaded, with the status shown then."""
    return page.evaluate("window.__counts")


def stroke_pixels(page: Page, chart_id: str, rgb: tuple[int, int, int]) -> int:
    """How many pixels of a chart's canvas are drawn in a series' stroke colour."""
    return page.evaluate(
        """([id, [r, g, b]]) => {
            const canvas = document.querySelector("#" + id + " canvas");
            const ctx = canvas.getContext("2d");
            const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
            let n = 0;
            for (let i = 0; i < px.length; i += 4) {
              if (Math.abs(px[i] - r) < 40 && Math.abs(px[i + 1] - g) < 40
                  && Math.abs(px[i + 2] - b) < 40 && px[i + 3] > 128) n++;
            }
            return n;
        }""",
        [chart_id, list(rgb)],
    )


BLUE_THROUGHPUT = (0x25, 0x63, 0xEB)  # run.js: throughput rps
GREEN_P50 = (0x16, 0xA3, 0x4A)  # run.js: p50 ms


def stored_snapshot_count(run_id: str) -> int:
    from dashboard.runs.models import RunSnapshot

    return RunSnapshot.objects.filter(run_id=run_id).count()


def run_row(run_id: str):
    from dashboard.runs.models import Run

    return Run.objects.get(pk=run_id)


def expect_final_report(page: Page) -> None:
    expect(status(page)).to_have_text("succeeded", timeout=RUN_FINISH_TIMEOUT_MS)
    report = page.locator("#report")
    latency = report.get_by_test_id("latency")
    expect(latency).to_be_visible()
    for row in ("Mean", "p50", "p90", "p95", "p99", "Max"):
        expect(latency.locator(f"tr:has(th:text-is('{row}')) td")).to_have_text(
            re.compile(r"^\d[\d.]* ms$")
        )
    expect(report.get_by_test_id("bottleneck")).to_contain_text(
        re.compile(r"(Bottleneck|Busiest component): \S+")
    )


def expect_all_snapshots_shown(page: Page, run_id: str) -> int:
    """The chart holds every stored snapshot, once, with no gap in sequence numbers."""
    stored = stored_snapshot_count(run_id)
    assert stored > 0
    expect(page.locator("#live-info")).to_have_attribute("data-count", str(stored))
    expect(page.locator("#live-info")).to_contain_text(f"last seq {stored - 1}")
    return stored


# --- Tests --------------------------------------------------------------------------


def test_new_user_signs_up_runs_the_example_and_sees_live_chart_and_report(
    page: Page, page_errors, artifacts
):
    sign_up(page, "newcomer")
    page.screenshot(path=str(artifacts / "scenario-list.png"), full_page=True)
    open_example_copy(page, example_name())
    # The example's objectives are estimated before any run: the tail is left to it.
    objectives = page.get_by_test_id("estimate-objectives")
    expect(objectives).to_contain_text("latency_ms.p99 ≤ 100 ms: a run measures it")
    expect(objectives).to_contain_text("utilization ≤ 80%")
    set_duration(page, LIVE_DURATION_S)
    run_id = press_run(page)

    wait_for_live_snapshots(page, at_least=5)
    page.screenshot(path=str(artifacts / "run-page-live.png"), full_page=True)
    assert stroke_pixels(page, "chart-rps", BLUE_THROUGHPUT) > 50, "no throughput line"

    expect_final_report(page)
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    stored = expect_all_snapshots_shown(page, run_id)
    # ... and the run judges them all, the p99 included.
    expect(page.get_by_test_id("objectives")).to_contain_text("Objectives: all met")
    expect(page.get_by_test_id("objectives")).to_contain_text("latency_ms.p99")
    page.screenshot(path=str(artifacts / "run-page-final.png"), full_page=True)

    # Live: the chart grew in several steps while the page still said "running".
    running = [r["count"] for r in recorded_counts(page) if r["status"] == "running"]
    assert len(set(running)) >= 3, f"chart did not update live: {recorded_counts(page)}"
    assert running == sorted(running)
    assert min(running) < stored
    assert stroke_pixels(page, "chart-rps", BLUE_THROUGHPUT) > 50, "no throughput line"
    assert stroke_pixels(page, "chart-latency", GREEN_P50) > 50, "no p50 line"

    run = run_row(run_id)
    assert run.status == "succeeded"
    assert run.report["latency_ms"]["p99"] > 0
    assert run.owner.username == "newcomer"

    # The run is listed under Runs, with its outcome.
    page.get_by_role("navigation").get_by_role("link", name="Runs").click()
    row = page.locator("tr").filter(has=page.locator(f"a[href='/runs/{run_id}/']"))
    expect(row).to_contain_text("succeeded")
    expect(row).to_contain_text(re.compile(r"\d ms"))
    page.screenshot(path=str(artifacts / "run-list.png"), full_page=True)
    assert page_errors == []


def test_reload_mid_run_shows_stored_then_live_snapshots(page: Page, page_errors):
    run_id = start_run(page, LIVE_DURATION_S)
    wait_for_live_snapshots(page, at_least=5)
    wait_for_stored_snapshots(page, run_id)

    stored_before = stored_snapshot_count(run_id)
    page.reload()
    # No snapshot comes with the page: the socket's catch-up sends the stored ones
    # first, from the start, in full (fewer than one page), before any live one; so
    # the first count the page shows is that page, all of it, while running.
    page.wait_for_function(
        "() => window.scaleboardRun && window.scaleboardRun.stream().pages.length > 0"
    )
    first_page = page.evaluate("() => window.scaleboardRun.stream().pages[0]")
    assert first_page["after"] == -1 and not first_page["downsampled"]
    assert first_page["through"] == first_page["items"] - 1
    stored_in_page = first_page["items"]
    assert stored_in_page >= stored_before > 0
    first = recorded_counts(page)[0]
    assert first["count"] >= stored_in_page
    assert first["status"] == "running"

    # Then live ones: the chart keeps growing while the run is running.
    page.wait_for_function(
        """(n) => window.__counts.some((r) => r.status === "running" && r.count > n)""",
        arg=stored_in_page,
        timeout=RUN_FINISH_TIMEOUT_MS,
    )
    expect_final_report(page)
    stored = expect_all_snapshots_shown(page, run_id)
    assert stored > stored_in_page
    counts = [r["count"] for r in recorded_counts(page)]
    assert counts == sorted(counts)
    assert page_errors == []


def test_cancel_stops_a_running_run(page: Page, page_errors, artifacts):
    run_id = start_run(page, CANCEL_DURATION_S)
    wait_for_live_snapshots(page, at_least=3)

    page.get_by_role("button", name="Cancel").click()
    expect(status(page)).to_have_text("cancelled")
    expect(page.get_by_role("alert")).to_have_text("Cancelled.")
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    page.screenshot(path=str(artifacts / "run-page-cancelled.png"), full_page=True)
    run = run_row(run_id)
    assert run.status == "cancelled"
    # What it measured until the cancel is kept (the worker stores it as it stops).
    for _ in range(150):
        if run_row(run_id).report is not None:
            break
        page.wait_for_timeout(200)
    assert run_row(run_id).report["partial"]["replications_planned"] == 1

    # The worker let go of it: the next run starts and finishes (one worker thread).
    scenario_link = re.compile(rf"^{re.escape(run.scenario.name)} v\d+$")
    page.get_by_role("link", name=scenario_link).click()
    expect(page).to_have_url(EDITOR_URL)
    set_duration(page, SHORT_DURATION_S)
    next_run_id = press_run(page)
    expect_final_report(page)
    assert run_row(next_run_id).status == "succeeded"
    assert run_row(run_id).status == "cancelled"
    assert page_errors == []


def _instances_to_zero(text: str) -> tuple[str, str]:
    """The document with one service's `instances` set to 0, and that field's path."""
    components = yaml.safe_load(text)["components"]
    name = next(
        n
        for n, c in components.items()
        if c.get("type") == "service" and "instances" in c
    )
    start = re.search(rf"^\s*{re.escape(name)}:", text, flags=re.MULTILINE).end()
    field = re.compile(r"\binstances:\s*\d+")
    match = field.search(text, start)
    edited = text[: match.start()] + "instances: 0" + text[match.end() :]
    assert yaml.safe_load(edited)["components"][name]["instances"] == 0
    return edited, f"components.{name}.instances"


def test_invalid_document_shows_field_path_error_and_saves_nothing(
    page: Page, page_errors, artifacts
):
    from dashboard.runs.models import Run
    from dashboard.scenarios.models import ScenarioVersion

    sign_up(page, "newcomer")
    scenario_id = open_example_copy(page, example_name())
    versions_before = ScenarioVersion.objects.filter(scenario_id=scenario_id).count()
    valid = editor(page).input_value()
    invalid, path = _instances_to_zero(valid)

    # As the user types, htmx validates and names the field.
    editor(page).fill(invalid)
    validation = page.locator("#validation")
    expect(validation.get_by_role("alert")).to_contain_text(path)
    expect(validation.locator("code", has_text=path)).to_be_visible()
    page.screenshot(path=str(artifacts / "editor-invalid.png"), full_page=True)

    # Saving shows the same error, keeps the user's text and stores nothing.
    page.get_by_role("button", name="Save version").click()
    expect(page.locator("#validation").get_by_role("alert")).to_contain_text(path)
    expect(editor(page)).to_have_value(invalid)
    assert (
        ScenarioVersion.objects.filter(scenario_id=scenario_id).count()
        == versions_before
    )

    # Running it is refused the same way, and no run is created.
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.locator("#validation").get_by_role("alert")).to_contain_text(path)
    assert Run.objects.count() == 0
    assert (
        ScenarioVersion.objects.filter(scenario_id=scenario_id).count()
        == versions_before
    )

    # Fixing it clears the error.
    editor(page).fill(valid)
    expect(page.locator("#validation")).to_contain_text("Valid document.")
    expect(page.locator("#validation").get_by_role("alert")).to_have_count(0)
    refused = [e for e in page_errors if e.startswith("HTTP 400 POST")]
    assert len(refused) == 2, page_errors  # Save version and Run, as expected
    assert [e for e in page_errors if e not in refused] == []


def _window(seq: int, replication: int, t_s: float, **fields) -> dict:
    return {
        "seq": seq,
        "replication": replication,
        "warmup": False,
        "progress": (seq + 1) / 6,
        "t_s": t_s,
        "rps": 200.0,
        "errors": 100,
        "timeouts": 25,
        "rejected": 0,
        "latency_ms": {"p50": 10.0, "p99": 40.0},
        "components": {},
        **fields,
    }


def test_the_errors_line_is_per_second_of_each_snapshots_own_window(
    page: Page, page_errors
):
    """Case study step 2: at snapshot_s 5 the line showed the window's counts (about
    1,150 "errors/s" beside 200 requests/s). The contract's rates are drawn as they
    are; snapshots stored before it are divided by their window, never by a guess."""
    from django.contrib.auth.models import User

    from dashboard.runs.models import Run, RunSnapshot

    sign_up(page, "casey")
    run = Run.objects.create(
        owner=User.objects.get(username="casey"),
        name="stored windows",
        document_text="",
        seed=1,
        status=Run.Status.SUCCEEDED,
        progress=1.0,
    )
    snapshots = [
        # Before the contract: counts only, 5 s apart; a second replication restarts.
        _window(0, 0, 5.0),
        _window(1, 0, 10.0),
        _window(2, 1, 5.0),
        # Counts with their window's length.
        _window(3, 1, 10.0, window_s=5.0),
        # The contract: rates per second (the counts beside them are not divided).
        _window(
            4,
            1,
            15.0,
            window_s=5.0,
            version=1,
            offered_rps=205.0,
            errors_rps=3.0,
            timeouts_rps=1.5,
            rejected_rps=0.5,
        ),
    ]
    for s in snapshots:
        RunSnapshot.objects.create(run=run, seq=s["seq"], data=s)

    page.goto(f"/runs/{run.pk}/")
    expect(page.locator("#live-info")).to_have_attribute("data-count", "5")
    chart = page.evaluate("window.scaleboardRun.chart()")
    assert chart["rps"] == [200.0] * 5
    assert chart["errors_per_s"] == [25.0, 25.0, 25.0, 25.0, 5.0]
    assert chart["x"] == [5.0, 10.0, 15.0, 20.0, 25.0]
    assert page_errors == []
