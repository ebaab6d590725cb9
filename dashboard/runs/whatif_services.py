"""Live what-if and "Run again": the writes (views stay thin over these).

`run_inject` validates a viewer's injection against the run's own document with
the engine (`simengine.injection_parse`, errors naming the field) and stores it; the
run's workers pick it up at their next snapshot boundary (`whatif.part_feed`).
`run_again` queues a run of the same document and seed whose injected events are fed
back where they landed, so its report is the original's, byte for byte.
"""

from __future__ import annotations

import math
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

import simengine
from dashboard.runs.models import Run, RunInjection
from dashboard.runs.services import run_create, run_document_parse


class InjectionRefused(Exception):
    """The run cannot take an injection now (finished, too many, too fast)."""


#: The paces offered when starting a run (simulated seconds per wall second).
PACE_CHOICES = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
MAX_PACE = 1000.0


def pace_parse(raw: str | None) -> float | None:
    """A posted `pace`: empty for as fast as possible, else a positive number of
    simulated seconds per wall second; raises `simengine.DocumentError` naming it."""
    if raw is None or not raw.strip():
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 < value <= MAX_PACE:
        raise simengine.DocumentError.single(
            "pace",
            f"must be a number of simulated seconds per second, above 0 and at most "
            f"{MAX_PACE:g} (got {raw[:40]!r})",
        )
    return value


def injection_from_form(data) -> dict:
    """The injection a what-if form posts (`templates/runs/_whatif.html`): action,
    component, target ("all", "instance:N", "node:NAME"), for_s, factor. Raises
    `simengine.DocumentError` naming the form's field."""
    raw: dict = {"action": (data.get("action") or "").strip()}
    errors: list[simengine.FieldError] = []
    if raw["action"] != "spike":
        raw["component"] = (data.get("component") or "").strip() or None
        target = (data.get("target") or "all").strip()
        kind, _, value = target.partition(":")
        if kind == "instance" and value.isdigit():
            raw["instance"] = int(value)
        elif kind == "node" and value:
            raw["node"] = int(value) if value.isdigit() else value
        elif target != "all":
            errors.append(simengine.FieldError("target", f"unknown target {target!r}"))
    for name in ("for_s", "factor"):
        text = (data.get(name) or "").strip()
        if not text:
            continue
        try:
            raw[name] = float(text)
        except ValueError:
            errors.append(
                simengine.FieldError(name, f"must be a number (got {text!r})")
            )
    if raw["action"] == "restore":
        raw.pop("for_s", None)
    if raw["action"] != "spike":
        raw.pop("factor", None)
    if errors:
        raise simengine.DocumentError(errors)
    return {k: v for k, v in raw.items() if v is not None}


@transaction.atomic
def run_inject(*, run: Run, user: AbstractBaseUser, raw: dict) -> RunInjection:
    """Store a what-if injection for a queued or running run.

    Raises `simengine.DocumentError` (a field of the injection is wrong: paths
    `injection.<field>`) or `InjectionRefused`, with nothing stored. Serialised per run
    (a row lock), so the per-run limit holds under concurrent posts.
    """
    locked = Run.objects.select_for_update().only("status").get(pk=run.pk)
    if locked.status not in Run.ACTIVE:
        raise InjectionRefused(
            f"The run has {locked.status}; injections go into a run while it runs. "
            "Run it again to try another what-if."
        )
    doc = run_document_parse(text=run.document_text)
    inj = simengine.injection_parse(doc, {**raw, "by": user.get_username()[:150]})
    made = RunInjection.objects.filter(run_id=run.pk)
    if made.count() >= settings.RUN_MAX_INJECTIONS:
        raise InjectionRefused(
            f"A run takes at most {settings.RUN_MAX_INJECTIONS} injections."
        )
    recent = timezone.now() - timedelta(seconds=settings.RUN_INJECTION_INTERVAL_S)
    if made.filter(created_by=user, created_at__gte=recent).exists():
        raise InjectionRefused(
            f"One injection per {settings.RUN_INJECTION_INTERVAL_S:g} s: wait a moment."
        )
    return RunInjection.objects.create(
        run_id=run.pk,
        created_by=user,
        spec=inj.model_dump(exclude_none=True),
        text=inj.describe()[:300],
    )


def run_again(*, run: Run, owner: AbstractBaseUser) -> Run:
    """Queue the same document with the same seed, pace and injected events (fed
    back where each landed): the report comes out the same. Raises what `run_create`
    raises (a document the current limits refuse, the per-user limit)."""
    events = simengine.injected_events((run.report or {}).get("event_log") or [])
    text = run.document_text
    return run_create(
        owner=owner,
        document=run_document_parse(text=text),
        document_text=text,
        scenario=run.scenario,
        version=run.version,
        seed=run.seed,
        pace=run.pace,
        replay_of=run,
        replay_events=events,
    )
