"""The designer's rough edges a new user hit, each fixed and checked in a browser:
connect mode stays on, a new cache or balancer starts valid (in front of something),
labels fit their boxes at every zoom, and the PNG export has a white margin.
"""

from __future__ import annotations

import base64
import re
import shutil
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Page, expect

from tests.browser.test_designer import (
    EDITOR_URL,
    add,
    click_node,
    editor,
    log_in_as_new_user,
    node_ids,
    wait_for_document,
    wait_ready,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

SHOTS = "/tmp/shots"
Path(SHOTS).mkdir(exist_ok=True)

LONG_IDS_DOC = """\
scaleboard: 1
name: Long names
workload: {target: edge-gateway-load-balancer-eu-west-1, rps: 400}
components:
  edge-gateway-load-balancer-eu-west-1:
    type: load_balancer
    targets: [checkout-payments-authorization-service-primary]
  checkout-payments-authorization-service-primary:
    type: service
    instances: 12
    cores: 16
    calls: [session-and-cart-cache-for-signed-in-customers]
  session-and-cart-cache-for-signed-in-customers:
    type: cache
    capacity_keys: 2500000
    nodes: 3
    backing: orders-database-with-read-replicas-and-shards
  orders-database-with-read-replicas-and-shards:
    type: database
    primary: {cores: 32}
    replicas: {count: 4}
    shards: {count: 8}
"""


def new_scenario(page: Page, username: str) -> None:
    log_in_as_new_user(page, username)
    page.get_by_role("button", name="New scenario").click()
    expect(page).to_have_url(EDITOR_URL)
    wait_ready(page)


def connect_mode(page: Page):
    return page.locator("#connect-mode")


def has_edge(page: Page, source: str, target: str) -> bool:
    return page.evaluate(
        "([s, t]) => window.scaleboardDesigner.cy.edges().some("
        "e => e.source().id() === s && e.target().id() === t)",
        [source, target],
    )


def wait_edge(page: Page, source: str, target: str) -> None:
    page.wait_for_function(
        "([s, t]) => window.scaleboardDesigner.cy.edges().some("
        "e => e.source().id() === s && e.target().id() === t)",
        arg=[source, target],
    )


def test_connect_mode_stays_on_for_several_connections_until_escape(
    page: Page, page_errors
):
    new_scenario(page, "connie")
    add(page, "Database", "db")
    add(page, "Service", "web2")
    page.locator("#canvas").focus()

    connect_mode(page).click()
    expect(connect_mode(page)).to_have_attribute("aria-pressed", "true")
    click_node(page, "web")
    click_node(page, "db")
    wait_edge(page, "web", "db")
    # Still on: the next pair needs no second press.
    expect(connect_mode(page)).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#designer-status")).to_contain_text("Still connecting")
    click_node(page, "lb")
    click_node(page, "web2")
    wait_edge(page, "lb", "web2")
    click_node(page, "web2")
    click_node(page, "db")
    wait_edge(page, "web2", "db")
    expect(connect_mode(page)).to_have_attribute("aria-pressed", "true")

    # Escape turns it off: a click selects again, and connects nothing.
    page.keyboard.press("Escape")
    expect(connect_mode(page)).to_have_attribute("aria-pressed", "false")
    edges = page.evaluate("window.scaleboardDesigner.cy.edges().length")
    click_node(page, "db")
    expect(page.locator("#inspector h2")).to_contain_text("db")
    click_node(page, "web")
    expect(page.locator("#inspector h2")).to_contain_text("web")
    assert page.evaluate("window.scaleboardDesigner.cy.edges().length") == edges

    # The button turns it off too.
    connect_mode(page).click()
    expect(connect_mode(page)).to_have_attribute("aria-pressed", "true")
    connect_mode(page).click()
    expect(connect_mode(page)).to_have_attribute("aria-pressed", "false")
    doc = yaml.safe_load(editor(page).input_value())
    assert doc["components"]["web"]["calls"] == ["db"]
    assert doc["components"]["web2"]["calls"] == ["db"]
    assert doc["components"]["lb"]["targets"] == ["web", "web2"]
    assert page_errors == []


def test_a_new_cache_goes_in_front_of_the_database_and_the_document_stays_valid(
    page: Page, page_errors
):
    new_scenario(page, "cachet")
    add(page, "Database", "db")
    page.get_by_label("Selected", exact=True).select_option("web")
    page.get_by_label("Connect it to").select_option("db")
    page.locator("#connect-btn").click()
    wait_for_document(page, lambda d: d["components"]["web"].get("calls"), "web->db")
    page.get_by_label("Selected", exact=True).select_option("")

    page.get_by_role("button", name="Cache", exact=True).click()
    doc = wait_for_document(page, lambda d: "cache" in d["components"], "cache")
    # In front of the database the service calls: valid, on the path, estimated.
    assert doc["components"]["cache"]["backing"] == "db"
    assert doc["components"]["web"]["calls"] == ["cache"]
    status = page.locator("#designer-status")
    expect(status).to_contain_text("Added cache cache in front of db")
    expect(status).to_contain_text("web now calls cache, which reads db on a miss")
    expect(page.locator("#validation")).to_contain_text("Valid document.")
    cache_row = page.locator("#estimate-body tr").filter(
        has=page.locator("td", has_text=re.compile(r"^cache$"))
    )
    expect(cache_row).to_contain_text("% hits")
    wait_edge(page, "cache", "db")
    assert has_edge(page, "web", "cache") and not has_edge(page, "web", "db")
    page.screenshot(path=f"{SHOTS}/designer-new-cache.png", full_page=False)

    # A balancer added with web selected goes in front of web, and stays valid.
    click_node(page, "web")
    expect(page.locator("#inspector h2")).to_contain_text("web")
    page.get_by_role("button", name="Load balancer", exact=True).click()
    doc = wait_for_document(page, lambda d: "lb2" in d["components"], "lb2")
    assert doc["components"]["lb2"]["targets"] == ["web"]
    expect(status).to_contain_text("Added load balancer lb2 in front of web")
    expect(page.locator("#validation")).to_contain_text("Valid document.")
    expect(page.locator("#estimate-body")).to_contain_text("Not reached")

    # With nothing to stand in front of, the status line says what is missing.
    for node_id in ("cache", "db"):
        click_node(page, node_id)
        page.locator("#canvas").focus()
        page.keyboard.press("Delete")
        wait_for_document(
            page, lambda d, n=node_id: n not in d["components"], f"{node_id} gone"
        )
    page.get_by_role("button", name="Cache", exact=True).click()
    doc = wait_for_document(page, lambda d: "cache" in d["components"], "cache again")
    assert "backing" not in doc["components"]["cache"]  # no database left
    expect(status).to_contain_text("A cache needs something behind it")
    expect(page.locator("#validation")).to_contain_text("components.cache.backing")
    assert page_errors == []


def label_overflow(page: Page) -> list[str]:
    """Nodes whose label box is not inside the node's own box, on screen."""
    return page.evaluate(
        """() => {
            const cy = window.scaleboardDesigner.cy;
            const bad = [];
            cy.nodes().forEach((n) => {
                const body = n.renderedBoundingBox({includeLabels: false,
                    includeOverlays: false, includeUnderlays: false,
                    includeOutlines: false});
                const label = n.renderedBoundingBox({includeNodes: false,
                    includeLabels: true, includeOverlays: false,
                    includeUnderlays: false, includeOutlines: false});
                const slack = 0.5;
                if (label.x1 < body.x1 - slack || label.x2 > body.x2 + slack ||
                    label.y1 < body.y1 - slack || label.y2 > body.y2 + slack) {
                    bad.push(n.id() + ' ' + JSON.stringify([body, label]));
                }
            });
            return bad;
        }"""
    )


def test_long_component_ids_fit_their_boxes_at_every_zoom(page: Page, page_errors):
    new_scenario(page, "lenny")
    editor(page).fill(LONG_IDS_DOC)
    page.wait_for_function(
        "() => window.scaleboardDesigner.cy.getElementById("
        "'orders-database-with-read-replicas-and-shards').nonempty()"
    )
    expect(page.locator("#estimate-body")).to_contain_text("% hits")
    page.get_by_role("button", name="Tidy").click()
    assert len(node_ids(page)) == 5
    for zoom in (0.45, 1.0, 2.0):
        page.evaluate(
            "z => { const cy = window.scaleboardDesigner.cy; cy.zoom(z);"
            " cy.center(cy.getElementById('checkout-payments-authorization-service-"
            "primary')); }",
            zoom,
        )
        page.wait_for_timeout(150)
        assert label_overflow(page) == [], zoom
        page.locator("#canvas").screenshot(
            path=f"{SHOTS}/designer-long-ids-zoom-{zoom:g}.png"
        )
    # The full id is one hover away, and in the inspector.
    page.get_by_role("button", name="Fit").click()
    click_node(page, "checkout-payments-authorization-service-primary")
    expect(page.locator("#inspector h2")).to_contain_text(
        "checkout-payments-authorization-service-primary"
    )
    assert page.locator("#canvas").get_attribute("title") == (
        "checkout-payments-authorization-service-primary"
    )
    assert page_errors == []


PNG_CHECK_JS = """
async (b64) => {
    const img = new Image();
    img.src = 'data:image/png;base64,' + b64;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const px = g.getImageData(0, 0, c.width, c.height).data;
    const at = (x, y) => px.slice((y * c.width + x) * 4, (y * c.width + x) * 4 + 4);
    const white = (p) => p[0] === 255 && p[1] === 255 && p[2] === 255 && p[3] === 255;
    let borderOk = true, inked = 0, transparent = 0;
    const m = 40;  // the export's margin is 64 px (32 at scale 2)
    for (let y = 0; y < c.height; y++) {
        for (let x = 0; x < c.width; x++) {
            const p = at(x, y);
            if (p[3] !== 255) transparent++;
            const border = x < m || y < m || x >= c.width - m || y >= c.height - m;
            if (border && !white(p)) borderOk = false;
            if (!border && !white(p)) inked++;
        }
    }
    return {width: c.width, height: c.height, borderOk, inked, transparent};
}
"""


def test_the_png_export_has_a_white_margin_and_an_opaque_background(
    page: Page, page_errors, artifacts
):
    new_scenario(page, "pippa")
    with page.expect_download() as info:
        page.locator("[data-export='png']").click()
    path = artifacts / "margin.png"
    info.value.save_as(str(path))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    bare = page.evaluate(
        "() => window.scaleboardDesigner.cy.png("
        "{full: true, scale: 2, output: 'base64'})"
    )
    checked = page.evaluate(PNG_CHECK_JS, base64.b64encode(data).decode())
    bare_size = page.evaluate(
        """async (b64) => { const i = new Image();
           i.src = 'data:image/png;base64,' + b64; await i.decode();
           return [i.naturalWidth, i.naturalHeight]; }""",
        bare,
    )
    assert [checked["width"], checked["height"]] == [
        bare_size[0] + 128,
        bare_size[1] + 128,
    ]
    assert checked["borderOk"], checked
    assert checked["transparent"] == 0, checked
    assert checked["inked"] > 1000, checked  # the diagram is in it
    shutil.copy(path, f"{SHOTS}/designer-export.png")

    # The document's help is a link (a new tab: unsaved edits stay), not a file name.
    expect(page.locator("#editor")).not_to_contain_text("docs/topology.md")
    with page.expect_popup() as popup:
        page.get_by_role("link", name=re.compile("How to write it")).click()
    help_page = popup.value
    expect(help_page.get_by_role("heading", level=1)).to_contain_text(
        "topology document"
    )
    expect(help_page.locator("#prices")).to_be_visible()
    help_page.screenshot(path=f"{SHOTS}/designer-help.png")
    assert editor(page).input_value()  # the designer's tab is still there
    assert page_errors == []
