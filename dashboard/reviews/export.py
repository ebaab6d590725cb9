"""The review as a Markdown decision record, and the comparison both pages show.

`review_markdown` writes what the review page shows as plain Markdown: the question,
the versions compared (components added, removed and changed, metric deltas), the runs
of both versions, the discussion and the decisions. User text goes in as the user
wrote it: the file is a download (`text/markdown`, attachment), never rendered as HTML
by us.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from dashboard.scenarios.models import Scenario, ScenarioVersion
from dashboard.scenarios.version_views import diff_context


def comparison(
    *, scenario: Scenario, base: ScenarioVersion | None, version: ScenarioVersion
) -> dict[str, Any]:
    """What the diff region of the versions' diff page draws, from `base` to
    `version` (`diff`, `metrics`, `diff_graph`, `run_old`, `run_new`, `old`, `new`):
    nothing for a first version."""
    if base is None:
        return {"diff": None, "metrics": []}
    return diff_context(scenario=scenario, old=base, new=version)


def _value(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        text = f"{value:,.2f}".rstrip("0").rstrip(".")
    else:
        text = str(value)
    return f"{text} {unit}".strip()


def _delta(row) -> str:
    if row.delta is None:
        return row.note or ("—" if row.old == row.new else "changed")
    verdict = {True: " (better)", False: " (worse)", None: ""}[row.better]
    return f"{row.delta_text} {row.unit}".strip() + verdict


def _cell(value: Any) -> str:
    """A value in a table cell: one line, pipes escaped."""
    return _value(value).replace("\n", " ").replace("|", "\\|")


def _run_line(run, absolute) -> str:
    figures = []
    if run.throughput_rps is not None:
        figures.append(f"{_value(float(run.throughput_rps))} req/s")
    if run.p99_ms is not None:
        figures.append(f"p99 {_value(float(run.p99_ms))} ms")
    shown = f" — {', '.join(figures)}" if figures else ""
    who = f" by {run.owner.username}" if run.owner_id else ""
    url = absolute(reverse("run_detail", args=[run.pk]))
    return f"- [{run.created_at:%Y-%m-%d %H:%M} UTC]({url}) {run.status}{who}{shown}"


def _quote(text: str) -> list[str]:
    return [f"> {line}" if line else ">" for line in text.splitlines()] or [">"]


def _comment_lines(c, components: dict[str, str], indent: str = "") -> list[str]:
    who = c.author.username if c.author_id else "(a deleted user)"
    head = f"{indent}**{who}**, {c.created_at:%Y-%m-%d %H:%M} UTC"
    if c.edited_at:
        head += f" (edited {c.edited_at:%Y-%m-%d %H:%M})"
    if c.component_id:
        kind = components.get(c.component_id)
        head += f" — on component `{c.component_id}`" + (f" ({kind})" if kind else "")
    if c.run_id:
        head += f" — on run {c.run_id}"
    if c.deleted_at:
        return [head, "", f"{indent}> (deleted)", ""]
    return [head, "", *(f"{indent}{line}" for line in _quote(c.body)), ""]


def review_markdown(ctx: dict[str, Any], *, base_url: str) -> str:
    """The review page's content (`views.review_context`) as Markdown."""
    scenario, version, base = ctx["scenario"], ctx["version"], ctx["base"]

    def absolute(path: str) -> str:
        return base_url.rstrip("/") + path

    decision = ctx["decision"]
    status = decision.get_status_display() if decision else "Open"
    review = ctx["review"]
    question = (review.question if review and review.question else "") or (
        version.message or "(no question given)"
    )
    author = version.author.username if version.author_id else "(unknown)"
    out = [
        f"# Design review: {scenario.name} v{version.number}",
        "",
        f"- Status: **{status}**"
        + (
            f" ({decision.decided_by.username if decision.decided_by_id else '?'},"
            f" {decision.decided_at:%Y-%m-%d %H:%M} UTC)"
            if decision
            else ""
        ),
        f"- Version {version.number} by {author},"
        f" {version.created_at:%Y-%m-%d %H:%M} UTC: {version.message or '(no message)'}",
        f"- Review page: {absolute(ctx['review_path'])}",
        "",
        "## Question",
        "",
        *_quote(question),
        "",
        "## Versions compared",
        "",
    ]
    diff = ctx["diff"]
    if base is None:
        out += [
            f"Version {version.number} is the first version: nothing to compare.",
            "",
        ]
    else:
        out += [f"Version {base.number} → version {version.number}.", ""]
        if diff.is_empty:
            out += ["No differences in the documents.", ""]
        for cid in diff.added:
            out.append(f"- Added `{cid}`")
        for cid in diff.removed:
            out.append(f"- Removed `{cid}`")
        for change in diff.changed:
            for f in change.fields:
                out.append(f"- Changed `{f.path}`: {f.old_text} → {f.new_text}")
        for f in diff.settings:
            out.append(f"- Setting `{f.path}`: {f.old_text} → {f.new_text}")
        out.append("")
        if ctx["metrics"]:
            out += [
                f"| Metric | v{base.number} | v{version.number} | Delta |",
                "| --- | --- | --- | --- |",
            ]
            for row in ctx["metrics"]:
                unit = f" {row.unit}" if row.unit and row.old is not None else ""
                new_unit = f" {row.unit}" if row.unit and row.new is not None else ""
                out.append(
                    f"| {row.label} | {_cell(row.old_text + unit)}"
                    f" | {_cell(row.new_text + new_unit)} | {_cell(_delta(row))} |"
                )
            out.append("")
        else:
            out += ["No metric deltas: each version needs a succeeded run.", ""]
    out += ["## Runs", ""]
    for label, v, runs in (
        (f"Version {version.number}", version, ctx["runs"]),
        (f"Version {base.number}" if base else "", base, ctx["base_runs"]),
    ):
        if v is None:
            continue
        out += [f"### {label}", ""]
        out += [_run_line(r, absolute) for r in runs] or ["No runs."]
        out.append("")
    out += ["## Discussion", ""]
    if not ctx["threads"]:
        out += ["No comments.", ""]
    for thread in ctx["threads"]:
        out += _comment_lines(thread.root, ctx["components"])
        for reply in thread.replies:
            out += _comment_lines(reply, ctx["components"], indent="    ")
    out += ["## Decision history", ""]
    if not ctx["decisions"]:
        out += ["No decision yet: the review is open.", ""]
    for d in ctx["decisions"]:
        who = d.decided_by.username if d.decided_by_id else "(a deleted user)"
        line = f"- {d.decided_at:%Y-%m-%d %H:%M} UTC: **{d.get_status_display()}** by {who}"
        out.append(line)
        if d.note:
            out += ["", *(f"  {q}" for q in _quote(d.note)), ""]
    for r in ctx["requests"]:
        out.append(
            f"- {r.created_at:%Y-%m-%d %H:%M} UTC: {r.actor.username if r.actor_id else '?'}"
            f" asked {r.recipient.username} to review"
        )
    out.append("")
    return "\n".join(out)
