from __future__ import annotations

from django import template

from dashboard.sharing.forms import ShareLinkForm
from dashboard.sharing.selectors import share_links_for_scenario

register = template.Library()


@register.simple_tag
def share_panel(scenario) -> dict:
    """What the scenario page's share panel shows (only to those who may manage)."""
    links = [link for link in share_links_for_scenario(scenario=scenario)[:50]]
    return {
        "active": [link for link in links if link.is_active()],
        "inactive_count": sum(1 for link in links if not link.is_active()),
        "form": ShareLinkForm(),
    }
