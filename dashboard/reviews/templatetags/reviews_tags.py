"""Template helpers of the review pages and of the scenario page's review panel."""

from __future__ import annotations

from typing import Any

from django import template

from dashboard.reviews import selectors

register = template.Library()


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    """`mapping[key]`, or None (for a dict keyed by component ids)."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.simple_tag
def review_panel(scenario, opened=None) -> selectors.ReviewSummary | None:
    """The shown version's review summary (the opened one, else the latest)."""
    if scenario is None or getattr(scenario, "pk", None) is None:
        return None
    return selectors.review_summary(scenario=scenario, version=opened or None)
