"""A request the server refuses is shown to the user, never silently dropped: htmx
swaps nothing for a 400, so static/js/app.js puts the server's reason on the page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_first_run import editor, sign_up

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def test_text_with_a_nul_character_is_refused_with_the_reason_on_the_page(
    page: Page, page_errors
):
    from django.contrib.auth.models import User

    from dashboard.scenarios.services import scenario_create

    sign_up(page, "nulfan")
    scenario = scenario_create(owner=User.objects.get(username="nulfan"))
    page.goto(f"/scenarios/{scenario.pk}/")
    text = editor(page)
    text.fill(text.input_value().replace("New scenario", "New\x00scenario"))

    alert = page.get_by_test_id("request-error")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("400")
    expect(alert).to_contain_text("NUL character")

    # Typing a storable text again: the next validation succeeds, the alert goes.
    text.fill(text.input_value().replace("\x00", " "))
    expect(alert).to_be_hidden()
    assert scenario.versions.count() == 1  # nothing was saved
