from __future__ import annotations

from urllib.parse import urlencode

from django import template
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
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


def _report_pending(run) -> bool:
    """A run cancelled (or failed) a moment ago whose worker may still be stopping:
    it keeps what it measured as a partial report and says the final status again
    (docs/runs-live.md), so the page waits for that before closing its socket."""
    if run.status not in (run.Status.CANCELLED, run.Status.FAILED) or run.report:
        return False
    beat = run.heartbeat_at
    return (
        beat is not None
        and (timezone.now() - beat).total_seconds() < settings.RUN_STALE_AFTER_S
    )


@register.simple_tag
def run_meta(run, share=None) -> dict:
    """What run.js needs: where to listen, where to fetch the final report, when the
    run started (for its elapsed time and ETA) and how often to say it is still
    watching (presence). On a shared page (`share`, dashboard.sharing) the socket and
    the report go by the link's token."""
    meta = {
        "id": str(run.pk),
        "status": run.status,
        "final": run.is_final,
        "ws_path": f"/ws/runs/{run.pk}/",
        "report_url": reverse("run_report", kwargs={"run_id": run.pk}),
        # Wall time: the progress bar's elapsed time and ETA count from here.
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "last_seq": run.last_seq,
        "ping_s": settings.RUN_PRESENCE_PING_S,
        "report_pending": _report_pending(run),
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


def _ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


@register.simple_tag
def queue_text(queue) -> str:
    """A queued run's place: "Queued · 2nd in line · 2 workers up" (run.js writes
    the same from a status message's `position` and `workers`); empty without them."""
    if not isinstance(queue, dict):
        return ""
    parts = ["Queued"]
    position, workers = queue.get("position"), queue.get("workers")
    if isinstance(position, int) and position > 0:
        parts.append(f"{_ordinal(position)} in line")
    if isinstance(workers, int) and workers >= 0:
        parts.append(
            "no worker up"
            if workers == 0
            else f"{workers} worker{'s' if workers != 1 else ''} up"
        )
    return " · ".join(parts) if len(parts) > 1 else ""
