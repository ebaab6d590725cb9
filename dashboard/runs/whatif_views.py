"""Live what-if on the run page (inject a fault or a spike) and "Run again"."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

import simengine
from dashboard.access import Perm
from dashboard.inputs import refuse_unstorable_text
from dashboard.runs import selectors
from dashboard.runs.models import Run
from dashboard.runs.services import RunLimitExceeded
from dashboard.runs.whatif_services import (
    InjectionRefused,
    injection_from_form,
    run_again,
    run_inject,
)

_TYPE_WORDS = {
    "load_balancer": "balancer",
    "service": "service",
    "cache": "cache",
    "database": "database",
}


def _targets(spec) -> list[tuple[str, str]]:
    """(value, label) of what a fault on one component can take down."""
    kind = spec.type
    if kind in ("service", "load_balancer"):
        count = spec.instance_count()
        return [("all", "every instance")] + [
            (f"instance:{i}", f"instance {i}") for i in range(count)
        ]
    if kind == "cache":
        return [(f"node:{i}", f"node {i}") for i in range(spec.nodes)]
    if kind == "database":
        out = [("node:primary", "the primary")]
        replicas = spec.replicas.count if spec.replicas else 0
        out += [(f"node:replica-{i}", f"replica {i}") for i in range(replicas)]
        if spec.shards is not None:
            out += [(f"node:shard-{i}", f"shard {i}") for i in range(spec.shards.count)]
        return out
    return []


def whatif_context(*, run: Run, user) -> dict:
    """What `templates/runs/_whatif.html` needs: `whatif` is None when the user may
    not inject into this run (not an editor, or the run is over)."""
    perms = getattr(run, "perms", None) or frozenset()
    if Perm.EDIT not in perms or run.status not in Run.ACTIVE:
        return {"whatif": None}
    try:
        doc = simengine.parse_document(run.document_text)
    except simengine.DocumentError:
        return {"whatif": None}
    components = [
        {
            "id": cid,
            "label": f"{cid} ({_TYPE_WORDS[spec.type]})",
            "targets": [{"value": v, "label": label} for v, label in _targets(spec)],
        }
        for cid, spec in doc.components.items()
        if spec.type in _TYPE_WORDS
    ]
    return {
        "whatif": {
            "components": components,
            "horizon_s": doc.simulation.warmup_s + doc.simulation.duration_s,
            "paced": run.pace is not None,
        }
    }


def _panel(request, run: Run, *, status: int = 200, **extra) -> HttpResponse:
    ctx = {"run": run, **whatif_context(run=run, user=request.user), **extra}
    template = "runs/_whatif.html#whatif-result" if request.htmx else "runs/whatif.html"
    return render(request, template, ctx, status=status)


@login_required
@require_POST
@refuse_unstorable_text
def run_inject_view(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    """Inject a fault, a restore or a spike into a running run (editors only)."""
    run = selectors.run_get_for_user(user=request.user, run_id=run_id, perm=Perm.EDIT)
    try:
        injection = run_inject(
            run=run, user=request.user, raw=injection_from_form(request.POST)
        )
    except simengine.DocumentError as exc:
        errors = [
            {"path": e.path.removeprefix("injection."), "message": e.message}
            for e in exc.errors
        ]
        return _panel(request, run, status=400, errors=errors)
    except InjectionRefused as exc:
        return _panel(request, run, status=409, refused=str(exc))
    if not request.htmx:
        return redirect("run_detail", run_id=run.pk)
    return _panel(request, run, injected=injection)


@login_required
@require_POST
def run_again_view(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    """The same document, seed, pace and injected events, as a new run."""
    run = selectors.run_get_for_user(user=request.user, run_id=run_id, perm=Perm.EDIT)
    try:
        new = run_again(run=run, owner=request.user)
    except RunLimitExceeded as exc:
        return render(
            request, "runs/refused.html", {"run": run, "reason": str(exc)}, status=429
        )
    except simengine.DocumentError as exc:
        return render(
            request, "runs/refused.html", {"run": run, "reason": str(exc)}, status=400
        )
    return redirect("run_detail", run_id=new.pk)
