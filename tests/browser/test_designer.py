"""The designer, as a new user would use it, in a real browser against a real server.

From an empty scenario: build "balancer -> three web servers -> database" by clicking,
raise the rate until the estimate marks the database as the bottleneck, add read
replicas and a cache and watch the bottleneck move, type a bad value and see the
inline error with nothing changed, undo, edit the YAML and see the canvas follow,
save, reload, and get the identical document and positions back.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

PASSWORD = "correct-Horse-battery-42"
EDITOR_URL = re.compile(r"/scenarios/(\d+)/$")


# --- What a user does -------------------------------------------------------------


def log_in_as_new_user(page: Page, username: str) -> None:
    from django.contrib.auth.models import User

    User.objects.create_user(username, password=PASSWORD)
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("Log in", re.I)).click()
    expect(page.get_by_role("heading", name="Scenarios", exact=True)).to_be_visible()


def open_new_scenario(page: Page, name: str = "New scenario") -> None:
    """ "New scenario" on the list, a name, Create: the editor of the blank one."""
    page.get_by_role("link", name="New scenario").click()
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create").click()
    expect(page).to_have_url(EDITOR_URL)


def editor(page: Page):
    return page.get_by_label(re.compile(r"^Topology document"))


def document(page: Page) -> dict:
    return yaml.safe_load(editor(page).input_value())


def wait_ready(page: Page) -> None:
    expect(page.locator("#designer")).to_have_attribute("data-ready", "1")


def node_ids(page: Page) -> set[str]:
    return set(page.evaluate("window.scaleboardDesigner.cy.nodes().map(n => n.id())"))


def click_node(page: Page, node_id: str) -> None:
    """Click a component on the canvas where the user sees it."""
    pos = page.evaluate(
        "id => window.scaleboardDesigner.cy.getElementById(id).renderedPosition()",
        node_id,
    )
    box = page.locator("#canvas").bounding_box()
    assert 0 < pos["x"] < box["width"] and 0 < pos["y"] < box["height"], (
        f"{node_id} is outside the visible canvas: {pos}"
    )
    page.mouse.click(box["x"] + pos["x"], box["y"] + pos["y"])


def wait_for_document(page: Page, check, message: str) -> dict:
    for _ in range(200):  # 20 s: the machines running these are shared and busy
        try:
            doc = document(page)
            if check(doc):
                return doc
        except yaml.YAMLError:
            pass
        page.wait_for_timeout(100)
    pytest.fail(f"the document never showed: {message}\n{editor(page).input_value()}")


def add(page: Page, kind: str, expected_id: str) -> None:
    page.get_by_role("button", name=kind, exact=True).click()
    wait_for_document(
        page,
        lambda d: expected_id in (d.get("components") or {}),
        f"{expected_id} added",
    )
    expect(page.locator("#inspector h2")).to_contain_text(expected_id)


def connect(page: Page, source: str, target: str) -> None:
    page.get_by_role("button", name="Connect", exact=True).first.click()
    expect(page.locator("#connect-mode")).to_have_attribute("aria-pressed", "true")
    click_node(page, source)
    click_node(page, target)
    page.wait_for_function(
        "([s, t]) => window.scaleboardDesigner.cy.edges().some("
        "e => e.source().id() === s && e.target().id() === t)",
        arg=[source, target],
    )
    page.get_by_role("button", name="Connect", exact=True).first.click()  # mode off


def swapping_inspector(page: Page, action) -> None:
    """Do `action`, then wait until the inspector has been replaced (htmx swap) and
    the swap has settled: htmx binds the new form's triggers when it settles (20 ms
    or more later), so a field typed into before that would never be sent."""
    page.evaluate("document.getElementById('inspector').dataset.old = '1'")
    action()
    page.wait_for_function(
        """() => {
            const el = document.getElementById('inspector');
            return !el.dataset.old && !el.classList.contains('htmx-added')
                && !el.querySelector('.htmx-added');
        }"""
    )


def type_and_tab(field, value: str) -> None:
    field.fill(value)
    field.press("Tab")


def inspect_and_set(
    page: Page, node_id: str, fields: dict[str, tuple[str, int]]
) -> None:
    """Select a node, then type each field's value (label: (key, value)) and wait
    until the document has it."""
    swapping_inspector(page, lambda: click_node(page, node_id))
    expect(page.locator("#inspector h2")).to_contain_text(node_id)
    for label, (key, value) in fields.items():
        field = page.locator("#inspector").get_by_label(label, exact=True)
        field.fill(str(value))
        field.press("Tab")
        wait_for_document(
            page,
            lambda d, k=key, v=value: d["components"][node_id].get(k) == v,
            f"{node_id}.{key} = {value}",
        )


def set_rate(page: Page, rps: int) -> None:
    swapping_inspector(
        page, lambda: page.get_by_role("button", name="Workload", exact=True).click()
    )
    expect(page.locator("#inspector h2")).to_have_text("Workload")
    rate = page.locator("#inspector").get_by_label(re.compile(r"^Rate"))
    rate.fill(str(rps))
    rate.press("Tab")
    wait_for_document(page, lambda d: d["workload"]["rps"] == rps, f"rps {rps}")


def bottleneck(page: Page):
    return page.locator("#bottleneck")


# --- The test -------------------------------------------------------------------------


def test_build_estimate_save_and_reload_the_web_tier(
    page: Page, page_errors, artifacts
):
    log_in_as_new_user(page, "dora")
    open_new_scenario(page)
    expect(page).to_have_url(EDITOR_URL)
    wait_ready(page)

    # An empty canvas: delete what the blank scenario starts with.
    for node_id in sorted(node_ids(page) - {"__clients__"}):
        click_node(page, node_id)
        page.locator("#canvas").focus()
        page.keyboard.press("Delete")
        wait_for_document(
            page, lambda d, n=node_id: n not in (d.get("components") or {}), "deleted"
        )
    assert node_ids(page) == {"__clients__"}

    # Build it by clicking: palette, then connect.
    add(page, "Load balancer", "lb")
    add(page, "Service", "web")
    add(page, "Database", "db")
    connect(page, "__clients__", "lb")
    connect(page, "lb", "web")
    connect(page, "web", "db")
    inspect_and_set(page, "web", {"Instances": ("instances", 3), "Cores": ("cores", 8)})
    doc = wait_for_document(
        page, lambda d: "db" in d["components"]["web"].get("calls", []), ""
    )
    assert doc["workload"]["target"] == "lb"
    assert doc["components"]["lb"]["targets"] == ["web"]
    assert doc["components"]["web"]["instances"] == 3
    expect(page.locator("#validation")).to_contain_text("Valid document.")
    page.screenshot(path=str(artifacts / "designer-built.png"), full_page=True)

    # Raise the rate until the estimate marks the database as the bottleneck.
    for rps in (200, 800, 1500):
        set_rate(page, rps)
        expect(bottleneck(page)).to_contain_text("% ")
        if "Bottleneck: db" in bottleneck(page).inner_text():
            break
    expect(bottleneck(page)).to_contain_text("Bottleneck: db")
    expect(bottleneck(page)).to_contain_text("read replicas")
    assert page.evaluate(
        "window.scaleboardDesigner.cy.getElementById('db').hasClass('bottleneck')"
    )
    assert page.evaluate(
        "window.scaleboardDesigner.cy.getElementById('db').hasClass('lvl-hot')"
    )
    expect(page.locator("#estimate")).to_contain_text("a run gives the measured truth")
    page.screenshot(path=str(artifacts / "designer-db-bottleneck.png"), full_page=True)

    # A bad value in the inspector: the error names the field, nothing changes.
    before = editor(page).input_value()
    swapping_inspector(page, lambda: click_node(page, "db"))
    cores = page.locator("#inspector").get_by_label("Cores", exact=True)
    swapping_inspector(page, lambda: type_and_tab(cores, "0"))
    expect(page.locator("#inspector .field-error")).to_contain_text(
        "components.db.primary.cores: must be >= 1 (got 0)"
    )
    expect(page.locator("#inspector")).to_contain_text("Nothing was changed")
    page.screenshot(path=str(artifacts / "designer-inline-error.png"))
    assert editor(page).input_value() == before
    swapping_inspector(page, lambda: type_and_tab(cores, "8"))
    expect(page.locator("#inspector")).to_contain_text("Applied.")
    assert editor(page).input_value() == before  # 8 cores, as it was

    # Two read replicas: the database's reads leave the primary; the bottleneck moves.
    swapping_inspector(
        page, lambda: page.locator("#inspector").get_by_label("Replicas").check()
    )
    count = page.locator("#inspector").get_by_label("Count", exact=True)
    expect(count).to_be_visible()
    type_and_tab(count, "2")
    wait_for_document(
        page,
        lambda d: (d["components"]["db"].get("replicas") or {}).get("count") == 2,
        "",
    )
    expect(bottleneck(page)).not_to_contain_text("Bottleneck: db")

    # Undo (Ctrl+Z on the canvas) takes the two replicas back (ticking "Replicas" was
    # its own step, with the default count 0); redo brings them again.
    page.locator("#canvas").focus()
    page.keyboard.press("Control+z")
    wait_for_document(
        page,
        lambda d: (d["components"]["db"].get("replicas") or {}).get("count") is None,
        "undone",
    )
    expect(bottleneck(page)).to_contain_text("Bottleneck: db")
    page.keyboard.press("Control+Shift+z")
    wait_for_document(
        page,
        lambda d: (d["components"]["db"].get("replicas") or {}).get("count") == 2,
        "redone",
    )
    expect(bottleneck(page)).not_to_contain_text("Bottleneck: db")

    # Edit the YAML: the canvas follows (a cache between web and db).
    text = editor(page).input_value()
    doc = yaml.safe_load(text)
    doc["components"]["web"]["calls"] = ["cache"]
    doc["components"]["cache"] = {
        "type": "cache",
        "backing": "db",
        "capacity_keys": 300000,
    }
    editor(page).fill(yaml.safe_dump(doc, sort_keys=False))
    page.wait_for_function(
        "() => window.scaleboardDesigner.cy.getElementById('cache').nonempty()"
        " && window.scaleboardDesigner.cy.edges('[kind = \"backing\"]').length === 1"
    )
    expect(page.locator("#estimate")).to_contain_text("% hits")
    page.screenshot(path=str(artifacts / "designer-cache.png"), full_page=True)

    # Drag a node: its position is kept with the version.
    pos = page.evaluate(
        "window.scaleboardDesigner.cy.getElementById('cache').renderedPosition()"
    )
    box = page.locator("#canvas").bounding_box()
    page.mouse.move(box["x"] + pos["x"], box["y"] + pos["y"])
    page.mouse.down()
    page.mouse.move(box["x"] + pos["x"] + 40, box["y"] + pos["y"] + 60, steps=5)
    page.mouse.up()

    # Save, reload, and get the identical document and layout.
    page.wait_for_timeout(500)  # the typed text settles (the canvas round trip)
    saved_text = editor(page).input_value()
    saved_positions = page.evaluate("window.scaleboardDesigner.positions()")
    page.get_by_label("Version message").fill("Web tier with replicas and a cache")
    page.get_by_role("button", name="Save version").click()
    expect(page).to_have_url(EDITOR_URL)
    page.reload()
    wait_ready(page)
    assert editor(page).input_value() == saved_text
    assert page.evaluate("window.scaleboardDesigner.positions()") == saved_positions
    assert node_ids(page) == {"__clients__", "lb", "web", "db", "cache"}
    expect(page.locator(".versions")).to_contain_text(
        "Web tier with replicas and a cache"
    )

    from dashboard.scenarios.models import Scenario

    scenario = Scenario.objects.get(owner__username="dora")
    latest = scenario.latest_version
    assert latest.document_text == saved_text
    assert latest.layout["positions"]["cache"] == saved_positions["cache"]
    page.screenshot(path=str(artifacts / "designer-reloaded.png"), full_page=True)
    assert page_errors == []


def test_a_field_typed_before_the_inspector_settles_is_still_applied(
    page: Page, page_errors
):
    """htmx binds a swapped-in form only when the swap settles, which a busy page
    delays: a user can type first. The designer sends that change once it is bound."""
    log_in_as_new_user(page, "fay")
    open_new_scenario(page)
    wait_ready(page)
    page.evaluate("htmx.config.defaultSettleDelay = 600")  # a slow, busy page
    page.evaluate("document.getElementById('inspector').dataset.old = '1'")
    click_node(page, "web")
    # The web server's fields are on screen, but the swap has not settled yet.
    page.wait_for_function("() => !document.getElementById('inspector').dataset.old")
    assert page.evaluate(
        "document.getElementById('inspector').classList.contains('htmx-added')"
    )
    type_and_tab(page.locator("#inspector").get_by_label("Instances", exact=True), "5")
    wait_for_document(
        page, lambda d: d["components"]["web"].get("instances") == 5, "instances 5"
    )
    expect(page.locator("#inspector")).to_contain_text("Applied.")
    assert page_errors == []


def test_exports_download_yaml_json_mermaid_and_png(page: Page, page_errors, artifacts):
    log_in_as_new_user(page, "eliot")
    open_new_scenario(page)
    wait_ready(page)
    expected = {"yaml": ".yaml", "json": ".json", "mermaid": ".mmd", "png": ".png"}
    for kind, suffix in expected.items():
        with page.expect_download() as info:
            page.locator(f"[data-export='{kind}']").click()
        download = info.value
        assert download.suggested_filename.endswith(suffix)
        path = artifacts / f"export{suffix}"
        download.save_as(str(path))
        data = path.read_bytes()
        if kind == "yaml":
            assert data.decode() == editor(page).input_value()
        elif kind == "json":
            assert b'"components"' in data
        elif kind == "mermaid":
            assert data.startswith(b"graph TB") and b"-->|Distribute|" in data
        else:
            assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert page_errors == []


def test_keyboard_path_duplicate_delete_undo_and_import(
    page: Page, page_errors, artifacts
):
    log_in_as_new_user(page, "fenna")
    open_new_scenario(page)
    wait_ready(page)

    # Palette by keyboard: focus "Service" and press Enter.
    page.get_by_role("button", name="Service", exact=True).focus()
    page.keyboard.press("Enter")
    wait_for_document(page, lambda d: "web2" in d["components"], "web2 added")

    # Select the balancer from the list and connect it to web2, all by keyboard.
    swapping_inspector(
        page, lambda: page.get_by_label("Selected", exact=True).select_option("lb")
    )
    expect(page.locator("#inspector h2")).to_contain_text("lb")
    page.get_by_label("Connect it to").select_option("web2")
    page.locator("#connect-btn").focus()
    page.keyboard.press("Enter")
    wait_for_document(
        page, lambda d: d["components"]["lb"]["targets"] == ["web", "web2"], "connected"
    )

    # Ctrl+D duplicates the selection, Delete removes it, Ctrl+Z brings it back.
    page.locator("#canvas").focus()
    page.keyboard.press("Control+d")
    doc = wait_for_document(page, lambda d: "lb2" in d["components"], "duplicated")
    assert doc["components"]["lb2"]["targets"] == ["web", "web2"]
    page.locator("#canvas").focus()
    page.keyboard.press("Delete")
    wait_for_document(page, lambda d: "lb2" not in d["components"], "deleted")
    page.keyboard.press("Control+z")
    wait_for_document(page, lambda d: "lb2" in d["components"], "undone")

    # F2 renames; every reference follows.
    click_node(page, "web2")
    page.once("dialog", lambda dialog: dialog.accept("api"))
    page.locator("#canvas").focus()
    page.keyboard.press("F2")
    doc = wait_for_document(page, lambda d: "api" in d["components"], "renamed")
    assert "web2" not in doc["components"]
    assert doc["components"]["lb"]["targets"] == ["web", "api"]
    assert doc["components"]["lb2"]["targets"] == ["web", "api"]
    page.keyboard.press("Control+z")
    wait_for_document(page, lambda d: "web2" in d["components"], "rename undone")

    # Every inspector field has a label.
    click_node(page, "web2")
    expect(page.locator("#inspector h2")).to_contain_text("web2")
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('#inspector input:not([type=hidden]),'
                + ' #inspector select')]
             .filter(el => !el.labels.length && !el.getAttribute('aria-label'))
             .map(el => el.name)"""
    )
    assert unlabelled == []

    # View as JSON: the same document; a canvas edit keeps it JSON; back to YAML.
    page.get_by_role("button", name="View as JSON").click()
    page.wait_for_function(
        "() => document.getElementById('document').value.startsWith('{')"
    )
    before_json = json.loads(editor(page).input_value())
    assert before_json["components"]["lb2"]["targets"] == ["web", "web2"]
    page.get_by_role("button", name="Cache", exact=True).click()
    page.wait_for_function(
        "() => document.getElementById('document').value.includes('\"cache\"')"
    )
    assert "cache" in json.loads(editor(page).input_value())["components"]
    page.get_by_role("button", name="View as YAML").click()
    page.wait_for_function(
        "() => document.getElementById('document').value.startsWith('scaleboard: 1')"
    )
    assert "cache" in document(page)["components"]

    # Import a YAML file: the document and the canvas are replaced; undo restores.
    imported = artifacts / "import-me.yaml"
    imported.write_text(
        "scaleboard: 1\nname: Imported\nworkload: {target: one, rps: 10}\n"
        "components:\n  one: {type: service}\n"
    )
    page.locator("#import-file").set_input_files(str(imported))
    wait_for_document(page, lambda d: d.get("name") == "Imported", "imported")
    page.wait_for_function(
        "() => window.scaleboardDesigner.cy.nodes().length === 2"
        " && window.scaleboardDesigner.cy.getElementById('one').nonempty()"
    )
    page.locator("#canvas").focus()
    page.keyboard.press("Control+z")
    wait_for_document(page, lambda d: "cache" in d["components"], "import undone")
    assert page_errors == []


def drag_node(page: Page, node_id: str, dx: float, dy: float) -> None:
    pos = page.evaluate(
        "id => window.scaleboardDesigner.cy.getElementById(id).renderedPosition()",
        node_id,
    )
    box = page.locator("#canvas").bounding_box()
    page.mouse.move(box["x"] + pos["x"], box["y"] + pos["y"])
    page.mouse.down()
    page.mouse.move(box["x"] + pos["x"] + dx, box["y"] + pos["y"] + dy, steps=5)
    page.mouse.up()


def test_run_with_unsaved_canvas_edits_stores_the_layout_save_version_would(
    page: Page, page_errors
):
    from dashboard.runs.models import Run
    from dashboard.scenarios.designer import layout_clean
    from dashboard.scenarios.models import Scenario

    log_in_as_new_user(page, "rhea")
    open_new_scenario(page)
    expect(page).to_have_url(EDITOR_URL)
    wait_ready(page)
    # The balancer has no capacity of its own: no "0%", the reason instead.
    lb_row = page.locator("#estimate-body tr").filter(
        has=page.locator("td", has_text=re.compile(r"^lb$"))
    )
    expect(lb_row).to_contain_text("no capacity of its own in this model")

    # Add a node and move another; nothing saved, then Run.
    add(page, "Service", "web2")
    drag_node(page, "web", 30, 80)
    page.wait_for_timeout(300)  # the canvas round trip settles
    text = editor(page).input_value()
    posted_layout = page.locator("#layout-input").input_value()
    positions = page.evaluate("window.scaleboardDesigner.positions()")
    page.get_by_role("button", name="Run", exact=True).first.click()
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}/$"))
    # Let the run finish before the test's database goes away under its worker.
    expect(page.get_by_test_id("run-status")).to_have_text("succeeded", timeout=60_000)

    scenario = Scenario.objects.get(owner__username="rhea")
    latest = scenario.latest_version
    assert scenario.versions.count() == 2
    assert latest.document_text == text
    # Exactly what "Save version" stores from the same form.
    assert latest.layout == layout_clean(posted_layout)
    assert set(latest.layout["positions"]) == {"__clients__", "lb", "web", "web2"}
    assert latest.layout["positions"]["web"] == {
        "x": float(positions["web"]["x"]),
        "y": float(positions["web"]["y"]),
    }
    assert Run.objects.get().version == latest

    # Back in the editor, the canvas has the positions it had.
    page.goto(f"/scenarios/{scenario.pk}/")
    wait_ready(page)
    assert page.evaluate("window.scaleboardDesigner.positions()") == positions
    assert page_errors == []


def test_run_with_unreadable_yaml_keeps_the_editor_error_and_last_canvas(
    page: Page, page_errors, artifacts
):
    from dashboard.runs.models import Run
    from dashboard.scenarios.models import Scenario

    log_in_as_new_user(page, "ines")
    open_new_scenario(page)
    expect(page).to_have_url(EDITOR_URL)
    wait_ready(page)
    saved_nodes = node_ids(page)
    assert saved_nodes >= {"__clients__", "lb", "web"}

    unreadable = "scaleboard: 1\ncomponents: [lb, {\n"
    editor(page).fill(unreadable)
    page.get_by_role("button", name="Run", exact=True).first.click()

    # The editor, with the text as typed and the error inline under it.
    expect(page.locator("#validation").get_by_role("alert")).to_be_visible()
    expect(editor(page)).to_have_value(unreadable)
    wait_ready(page)
    # The canvas shows the last readable version, not nothing.
    assert node_ids(page) == saved_nodes
    expect(page.locator("#designer-status")).to_contain_text("cannot be read")
    # The estimate is not stuck on "Computing…".
    expect(page.locator("#estimate-body")).not_to_contain_text("Computing")
    expect(page.locator("#estimate-body")).to_contain_text("when the document is valid")
    page.screenshot(path=str(artifacts / "designer-run-unreadable.png"), full_page=True)

    scenario = Scenario.objects.get(owner__username="ines")
    assert scenario.versions.count() == 1 and Run.objects.count() == 0
    refused = [e for e in page_errors if e.startswith("HTTP 400 POST")]
    assert len(refused) == 1, page_errors  # the refused Run itself
    assert [e for e in page_errors if e not in refused] == []


def test_an_import_the_server_refuses_says_refused_and_changes_nothing(
    page: Page, page_errors, artifacts
):
    log_in_as_new_user(page, "ines")
    open_new_scenario(page)
    wait_ready(page)
    before = editor(page).input_value()
    # Under the page's 1 MB file check, but every quote is escaped in the JSON sent:
    # the body is over the server's limit, so the server answers 400.
    refused = artifacts / "too-quoted.yaml"
    refused.write_text("# " + '"' * 600_000 + "\n" + before)

    page.locator("#import-file").set_input_files(str(refused))

    status = page.locator("#designer-status")
    expect(status).to_contain_text("Import of too-quoted.yaml refused")
    expect(status).not_to_contain_text("Imported")
    assert editor(page).input_value() == before
    assert [e for e in page_errors if "HTTP 400" not in e] == []
