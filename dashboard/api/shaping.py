"""Shaping the API's answers (scenarios, versions, runs), shared by the endpoints."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse

import simengine
from dashboard.api import schemas
from dashboard.runs.models import Run
from dashboard.runs.verdicts import run_verdict
from dashboard.scenarios.models import Scenario, ScenarioVersion

#: Deepest nesting a request body may have (the bodies here are flat objects).

MAX_BODY_DEPTH = 16
PAGE_DEFAULT, PAGE_MAX = 50, 200
SNAPSHOTS_DEFAULT, SNAPSHOTS_MAX = 100, 500


# --- Shaping the answers -----------------------------------------------------------


def _url(request: HttpRequest, name: str, **kwargs: Any) -> str:
    return request.build_absolute_uri(reverse(name, kwargs=kwargs))


def _scenario_out(request: HttpRequest, scenario: Scenario, perms=None) -> dict:
    perms = perms if perms is not None else getattr(scenario, "perms", ())
    latest = getattr(scenario, "latest_number", None)
    if latest is None and not hasattr(scenario, "latest_number"):
        version = scenario.latest_version
        latest = version.number if version else None
    return {
        "id": scenario.pk,
        "name": scenario.name,
        "description": scenario.description,
        "owner": scenario.owner.username if scenario.owner_id else None,
        "team": (
            {"id": scenario.team_id, "name": scenario.team.name}
            if scenario.team_id
            else None
        ),
        "is_example": scenario.is_example,
        "latest_version": latest,
        "permissions": sorted(str(p) for p in perms),
        "created_at": scenario.created_at,
        "updated_at": scenario.updated_at,
        "url": _url(request, "scenario_detail", pk=scenario.pk),
    }


def _version_out(request: HttpRequest, version: ScenarioVersion) -> dict:
    return {
        "number": version.number,
        "message": version.message,
        "author": version.author.username if version.author_id else None,
        "created_at": version.created_at,
        "url": _url(
            request,
            "scenario_version",
            pk=version.scenario_id,
            number=version.number,
        ),
    }


def _summary(doc: simengine.Document) -> dict:
    sim = doc.simulation
    return {
        "name": doc.name,
        "description": doc.description,
        "components": {cid: c.type for cid, c in doc.components.items()},
        "workload": {"target": doc.workload.target, "rps": doc.workload.rps},
        "simulation": {
            "duration_s": sim.duration_s,
            "warmup_s": sim.warmup_s,
            "snapshot_s": sim.snapshot_s,
            "seed": sim.seed,
            "replications": sim.replications,
        },
        "objectives": (
            doc.objectives.model_dump(mode="json", exclude_none=True)
            if doc.objectives is not None
            else None
        ),
    }


def _verdict(run: Run) -> dict | None:
    """The run page's verdict (`runs.verdicts.run_verdict`, one definition), with
    the report's objective checks and headline figures; None while it is active."""
    verdict = run_verdict(run)
    if verdict is None:
        return None
    report = run.report if isinstance(run.report, dict) else {}
    objectives = report.get("objectives") or {}
    latency = report.get("latency_ms") or {}
    total = verdict.objectives_total
    return {
        "label": verdict.label,
        "level": verdict.level,
        "objectives_met": (verdict.objectives_met == total) if total else None,
        "objectives": {"met": verdict.objectives_met, "total": total}
        if total
        else None,
        "checks": list(objectives.get("checks") or []),
        "error_rate": verdict.error_rate,
        "degraded": verdict.degraded,
        "partial": verdict.partial,
        "throughput_rps": report.get("throughput_rps"),
        "latency_ms": {k: latency.get(k) for k in ("p50", "p95", "p99")},
    }


def _run_out(request: HttpRequest, run: Run) -> dict:
    return {
        "id": run.pk,
        "name": run.name,
        "status": run.status,
        "progress": run.progress,
        "error": run.error,
        "scenario": run.scenario_id,
        "version": run.version.number if run.version_id else None,
        "seed": run.seed,
        "pace": run.pace,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "verdict": _verdict(run),
        "url": _url(request, "run_detail", run_id=run.pk),
        "report_url": (
            request.build_absolute_uri(reverse("api:run_report", args=[run.pk]))
            if run.report
            else None
        ),
    }


def _page(qs, limit: int, offset: int) -> tuple[int, list]:
    return qs.count(), list(qs[offset : offset + limit])


def _user(request: HttpRequest):
    return request.auth.user


#: The error answers most endpoints declare.
_ERRORS = {400: schemas.ErrorOut, 401: schemas.ErrorOut, 404: schemas.ErrorOut}
