from __future__ import annotations

from urllib.parse import urlencode

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

import simengine

register = template.Library()


# What `json_script` escapes: in JSON these appear only inside strings, where the
# \u escapes mean the same characters, so the text stays the same JSON.
_JSON_SCRIPT_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


@register.simple_tag
def json_text_script(json_text: str, element_id: str) -> SafeString:
    """`json_script` for text that is JSON already (read from the database as text):
    escaped the same way, without decoding and encoding it again."""
    return format_html(
        '<script id="{}" type="application/json">{}</script>',
        element_id,
        mark_safe(json_text.translate(_JSON_SCRIPT_ESCAPES)),
    )


@register.simple_tag
def run_meta(run, share=None) -> dict:
    """What run.js needs: where to listen and where to fetch the final report. On
    a shared page (`share`, dashboard.sharing) both go by the link's token."""
    meta = {
        "id": str(run.pk),
        "status": run.status,
        "final": run.is_final,
        "ws_path": f"/ws/runs/{run.pk}/",
        "report_url": reverse("run_report", kwargs={"run_id": run.pk}),
    }
    if share:
        meta["ws_path"] += "?" + urlencode({"share": share.token})
        meta["report_url"] = reverse(
            "shared_run_report", kwargs={"token": share.token, "run_id": run.pk}
        )
    return meta


@register.filter
def pct(value) -> str:
    try:
        return f"{float(value) * 100:.1f}%"
    except (TypeError, ValueError):
        return "-"


#: Component types with no capacity of their own in this model: their utilization
#: is not measured (None in reports from now on; 0.0 in reports stored before).
UNMEASURED_TYPES = tuple(simengine.UTILIZATION_NOTES)


@register.filter
def measured_utilization(component) -> float | None:
    """A report component's utilization, or None when it is not measured: null in
    the report, or the 0.0 older reports carry for a balancer or a cache."""
    if not isinstance(component, dict):
        return None
    value = component.get("utilization")
    if value is None or (component.get("type") in UNMEASURED_TYPES and not value):
        return None
    return value


@register.filter
def utilization_note(component) -> str:
    """Why a component's utilization is not shown: the report's own reason if any."""
    if isinstance(component, dict) and component.get("utilization_note"):
        return str(component["utilization_note"])
    if isinstance(component, dict) and component.get("type") in UNMEASURED_TYPES:
        return simengine.UTILIZATION_NOTES[component["type"]]
    return "not measured"


@register.filter
def ms(value) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "-"
    return f"{v:.0f} ms" if v >= 100 else f"{v:.2f} ms"


@register.filter
def get(mapping, key):
    if isinstance(mapping, dict):
        return mapping.get(key)
    return None


@register.filter
def objective_value(value, objective: str) -> str:
    """A value or limit of an objective check, as the command line shows it."""
    try:
        return simengine.format_value(
            objective, None if value is None else float(value)
        )
    except (TypeError, ValueError):
        return "-"
