"""The read-only designer (a team viewer) and comment pins on the canvas, in a browser.

Read-only is `data-readonly="true"` on the designer section (the page sets it when
"edit" is not among the user's permissions): dragging, adding, deleting, connecting,
renaming and undo do nothing, the inspector shows values in disabled fields, while
selection, fit, zoom and the PNG export work.

Pins are a `designer-pins` json_script ({id: {count, url}}), which the reviews
feature supplies; here the test adds it to the served page exactly as `json_script`
writes it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from django.utils.html import json_script
from playwright.sync_api import Page, expect

from tests.browser.test_designer import click_node, editor, node_ids, wait_ready

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

SHOTS = "/tmp/shots"
Path(SHOTS).mkdir(exist_ok=True)

TEAM_DOC = """\
scaleboard: 1
name: Checkout
workload: {target: lb, rps: 300}
components:
  lb: {type: load_balancer, algorithm: round_robin, targets: [web]}
  web: {type: service, instances: 3, cores: 4, calls: [cache]}
  cache: {type: cache, capacity_keys: 200000, backing: db}
  db: {type: database}
"""


def log_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(f"{username}-pass-123")
    page.get_by_role("button", name=re.compile("Log in", re.I)).click()
    expect(page.get_by_role("heading", name="Scenarios", exact=True)).to_be_visible()


def team_scenario(alice, dave):
    from dashboard.scenarios.services import scenario_create
    from dashboard.teams.models import Role
    from dashboard.teams.services import member_add, team_create

    team = team_create(creator=alice, name="Platform")
    member_add(team=team, username=dave.username, role=Role.VIEWER, added_by=alice)
    scenario = scenario_create(owner=alice, text=TEAM_DOC, team=team)
    layout = {
        "positions": {
            "__clients__": {"x": 0, "y": 0},
            "lb": {"x": 210, "y": 0},
            "web": {"x": 420, "y": 0},
            "cache": {"x": 630, "y": 0},
            "db": {"x": 840, "y": 0},
        }
    }
    version = scenario.latest_version
    version.layout = layout
    version.save(update_fields=["layout"])
    return scenario


def serve_with_pins(page: Page, scenario_pk: int, pins: dict) -> None:
    """The scenario page as served, with the pins json_script the template writes
    when its context has `pins`."""
    element = str(json_script(pins, "designer-pins"))

    def handle(route):
        response = route.fetch()
        html = response.text()
        assert 'id="designer-pins"' not in html
        route.fulfill(
            response=response, body=html.replace("</body>", element + "</body>")
        )

    page.route(re.compile(rf"/scenarios/{scenario_pk}/$"), handle)


def rendered(page: Page, node_id: str) -> dict:
    return page.evaluate(
        "id => window.scaleboardDesigner.cy.getElementById(id).renderedPosition()",
        node_id,
    )


def badge_center(page: Page, node_id: str) -> dict:
    box = page.locator(f".pin-badge[data-component='{node_id}']").bounding_box()
    canvas = page.locator("#canvas").bounding_box()
    return {
        "x": box["x"] + box["width"] / 2 - canvas["x"],
        "y": box["y"] + box["height"] / 2 - canvas["y"],
    }


def node_corner(page: Page, node_id: str) -> dict:
    bb = page.evaluate(
        "id => window.scaleboardDesigner.cy.getElementById(id).renderedBoundingBox("
        "{includeLabels: false, includeOverlays: false, includeUnderlays: false,"
        " includeOutlines: false})",
        node_id,
    )
    return {"x": bb["x2"], "y": bb["y1"]}


def assert_badge_on_corner(page: Page, node_id: str) -> None:
    badge, corner = badge_center(page, node_id), node_corner(page, node_id)
    assert abs(badge["x"] - corner["x"]) < 12 and abs(badge["y"] - corner["y"]) < 12, (
        badge,
        corner,
    )


def test_a_team_viewer_can_look_select_fit_and_export_but_change_nothing(
    page: Page, page_errors, alice, dave, artifacts
):
    from dashboard.scenarios.models import Scenario

    scenario = team_scenario(alice, dave)
    thread_url = f"/scenarios/{scenario.pk}/versions/1/"
    serve_with_pins(page, scenario.pk, {"cache": {"count": 2, "url": thread_url}})
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, "dave")
    page.goto(f"/scenarios/{scenario.pk}/")
    wait_ready(page)
    designer = page.locator("#designer")
    expect(designer).to_have_attribute("data-readonly", "true")
    assert page.evaluate("window.scaleboardDesigner.readonly") is True
    expect(page.locator("#designer-status")).to_contain_text("Read-only")
    before_text = editor(page).input_value()
    before_nodes = node_ids(page)
    before_edges = page.evaluate("window.scaleboardDesigner.cy.edges().length")
    before_positions = page.evaluate("window.scaleboardDesigner.positions()")

    # No edit control is shown; the view controls are.
    for name in (
        "Load balancer",
        "Service",
        "Cache",
        "Database",
        "Rename",
        "Duplicate",
        "Delete",
        "Undo",
        "Redo",
        "Tidy",
    ):
        expect(designer.get_by_role("button", name=name, exact=True)).to_be_hidden()
    expect(page.locator("#connect-mode")).to_be_hidden()
    expect(page.locator("#connect-btn")).to_be_hidden()
    expect(page.locator("#import-btn")).to_be_hidden()
    expect(page.get_by_role("button", name="View as JSON")).to_be_hidden()
    expect(designer.get_by_role("button", name="Fit", exact=True)).to_be_visible()
    expect(editor(page)).to_have_attribute("readonly", "")
    page.screenshot(path=f"{SHOTS}/designer-readonly.png", full_page=False)

    # Dragging moves nothing.
    start = rendered(page, "web")
    box = page.locator("#canvas").bounding_box()
    page.mouse.move(box["x"] + start["x"], box["y"] + start["y"])
    page.mouse.down()
    page.mouse.move(box["x"] + start["x"] + 60, box["y"] + start["y"] + 80, steps=6)
    page.mouse.up()
    assert rendered(page, "web") == start
    assert page.evaluate("window.scaleboardDesigner.positions()") == before_positions

    # Selecting works and shows the values, with no enabled input.
    click_node(page, "web")
    expect(page.locator("#inspector h2")).to_contain_text("web")
    expect(page.locator("#inspector")).to_contain_text("Read-only")
    instances = page.locator("#inspector").get_by_label("Instances", exact=True)
    expect(instances).to_have_value("3")
    expect(instances).to_be_disabled()
    enabled = page.evaluate(
        "document.querySelectorAll('#inspector input:enabled, #inspector select:enabled,"
        " #inspector textarea:enabled, #inspector button:enabled').length"
    )
    assert enabled == 0
    assert page.evaluate(
        "window.scaleboardDesigner.cy.getElementById('web').selected()"
    )

    # The keys that edit do nothing: delete, duplicate, rename, undo.
    page.locator("#canvas").focus()
    for key in ("Delete", "Backspace", "Control+d", "F2", "Control+z"):
        page.keyboard.press(key)
    # Clicking two nodes is a selection, never a connection.
    click_node(page, "lb")
    click_node(page, "db")
    expect(page.locator("#inspector h2")).to_contain_text("db")
    # The settings panels open read-only too.
    page.get_by_role("button", name="Workload", exact=True).click()
    expect(page.locator("#inspector h2")).to_have_text("Workload")
    expect(
        page.locator("#inspector").get_by_label(re.compile(r"^Rate"))
    ).to_be_disabled()
    page.wait_for_timeout(800)  # anything that would change the document has landed
    assert editor(page).input_value() == before_text
    assert node_ids(page) == before_nodes
    assert page.evaluate("window.scaleboardDesigner.cy.edges().length") == before_edges
    assert dialogs == []  # F2 asked for no new name

    # Fit and zoom work.
    page.evaluate("window.scaleboardDesigner.cy.zoom(0.5)")
    designer.get_by_role("button", name="Fit", exact=True).click()
    assert page.evaluate("window.scaleboardDesigner.cy.zoom()") != 0.5
    zoom = page.evaluate("window.scaleboardDesigner.cy.zoom()")
    page.mouse.move(box["x"] + 200, box["y"] + 200)
    page.mouse.wheel(0, -400)
    page.wait_for_function(f"() => window.scaleboardDesigner.cy.zoom() > {zoom}")

    # The PNG export works.
    with page.expect_download() as info:
        page.locator("[data-export='png']").click()
    info.value.save_as(str(artifacts / "readonly.png"))
    assert (artifacts / "readonly.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The viewer sees the comment pin too, and it leads to the thread.
    designer.get_by_role("button", name="Fit", exact=True).click()
    badge = page.locator(".pin-badge[data-component='cache']")
    expect(badge).to_have_text("2")
    expect(badge).to_have_attribute("aria-label", "2 comments on cache")
    assert_badge_on_corner(page, "cache")
    badge.click()
    expect(page).to_have_url(re.compile(re.escape(thread_url) + "$"))

    scenario = Scenario.objects.get(pk=scenario.pk)
    assert scenario.versions.count() == 1
    assert yaml.safe_load(scenario.latest_version.document_text) == yaml.safe_load(
        before_text
    )
    assert page_errors == []


def test_comment_pins_draw_a_badge_per_listed_component_that_follows_the_canvas(
    page: Page, page_errors, alice, dave
):
    scenario = team_scenario(alice, dave)
    version_url = f"/scenarios/{scenario.pk}/versions/1/"
    serve_with_pins(
        page,
        scenario.pk,
        {
            "web": {"count": 3, "url": version_url},
            "db": {"count": 120, "url": version_url},
            "nowhere": {"count": 1, "url": version_url},  # no such component
            "lb": {"count": 1, "url": "javascript:alert(1)"},  # never a link
            "cache": {"count": 0, "url": version_url},  # nothing to count
        },
    )
    log_in(page, "alice")
    page.goto(f"/scenarios/{scenario.pk}/")
    wait_ready(page)
    expect(page.locator("#designer")).not_to_have_attribute("data-readonly", "true")
    badges = page.locator(".pin-badge")
    expect(badges).to_have_count(2)
    expect(page.locator(".pin-badge[data-component='web']")).to_have_text("3")
    expect(page.locator(".pin-badge[data-component='db']")).to_have_text("99+")
    assert_badge_on_corner(page, "web")

    # Pan and zoom: the badge stays on its node's corner.
    page.evaluate("window.scaleboardDesigner.cy.panBy({x: -60, y: 40})")
    page.wait_for_timeout(100)
    assert_badge_on_corner(page, "web")
    page.evaluate(
        "(() => { const cy = window.scaleboardDesigner.cy;"
        " cy.zoom({level: 1.6, renderedPosition:"
        " cy.getElementById('web').renderedPosition()}); })()"
    )
    page.wait_for_timeout(100)
    assert page.evaluate("window.scaleboardDesigner.cy.zoom()") == 1.6
    assert_badge_on_corner(page, "web")
    page.get_by_role("button", name="Fit", exact=True).click()
    page.wait_for_timeout(100)
    assert_badge_on_corner(page, "web")
    # Dragging the node takes its badge along.
    start = rendered(page, "web")
    box = page.locator("#canvas").bounding_box()
    page.mouse.move(box["x"] + start["x"], box["y"] + start["y"])
    page.mouse.down()
    page.mouse.move(box["x"] + start["x"] + 30, box["y"] + start["y"] + 70, steps=5)
    page.mouse.up()
    assert rendered(page, "web") != start
    assert_badge_on_corner(page, "web")
    page.screenshot(path=f"{SHOTS}/designer-pins.png", full_page=False)

    # The badge is a link to its thread.
    page.locator(".pin-badge[data-component='web']").click()
    expect(page).to_have_url(re.compile(re.escape(version_url) + "$"))
    assert page_errors == []
