"""A run owns its state: the database, not Celery, says where a simulation stands."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class Run(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    ACTIVE = (Status.QUEUED, Status.RUNNING)
    FINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="runs"
    )
    scenario = models.ForeignKey(
        "scenarios.Scenario",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="runs",
    )
    version = models.ForeignKey(
        "scenarios.ScenarioVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="runs",
    )
    name = models.CharField(max_length=200)
    document_text = models.TextField()
    seed = models.BigIntegerField()
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # When its task was last sent to the broker: a run queued for long was probably
    # lost with the broker's memory (Redis keeps nothing on disk) and is sent again.
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Written by the executing worker every RUN_HEARTBEAT_S; a stale heartbeat on a
    # running run means its worker died (see reaper.py).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # A fresh token per attempt: a worker whose token no longer matches stops at once,
    # so two copies of one run never go on together.
    attempt_token = models.UUIDField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)
    progress = models.FloatField(default=0.0)
    last_seq = models.IntegerField(default=-1)
    report = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    # Simulated seconds per second of wall time, for a run to watch and steer (live
    # what-if); None: as fast as the worker goes. Presentation only: the report of a
    # document, a seed and its injections is the same at any pace.
    pace = models.FloatField(null=True, blank=True)
    # "Run again" of a run with injected events: the run it repeats, and those
    # events (simengine.whatif), fed back where they landed.
    replay_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays"
    )
    replay_events = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL

    @property
    def group_name(self) -> str:
        return f"run-{self.id.hex}"


class RunSnapshot(models.Model):
    """A snapshot as streamed; stored so a late or reloading browser can catch up."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="snapshots")
    seq = models.IntegerField()
    data = models.JSONField()

    class Meta:
        ordering = ["seq"]
        constraints = [
            models.UniqueConstraint(fields=["run", "seq"], name="unique_run_seq")
        ]

    def __str__(self) -> str:
        return f"{self.run_id} #{self.seq}"


class RunPart(models.Model):
    """One replication of a run fanned out over the workers (one Celery task each).

    A part has the run's life cycle in small: claimed with a fresh attempt token,
    heartbeating, retried by the reaper when its worker dies. The run is running
    while any part is, and finishes when the last part does.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="parts")
    replication = models.PositiveIntegerField()
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempt_token = models.UUIDField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)
    progress = models.FloatField(default=0.0)
    report = models.JSONField(null=True, blank=True)  # partial when cancelled
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["run", "replication"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "replication"], name="unique_run_replication"
            )
        ]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"{self.run_id} replication {self.replication} ({self.status})"


class RunInjection(models.Model):
    """A what-if action a viewer injected into a running run (simengine.whatif).

    The worker picks it up at its next snapshot boundary; where it landed is in the
    run's event log (an ``injected`` event), which is what "Run again" replays.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="injections")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    spec = models.JSONField()  # a valid simengine.whatif.Injection, ``by`` included
    text = models.CharField(max_length=300)
    # Where it landed first (the simulated time of a boundary): every other
    # replication of the run applies it at the same time, or at once if it is past.
    landed_t_s = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.run_id}: {self.text}"


class WorkerBeat(models.Model):
    """A Celery worker that is up, as its reaper timer last said (dashboard.runs.reaper)."""

    hostname = models.CharField(max_length=200, unique=True)
    seen_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.hostname


class RunViewer(models.Model):
    """A browser watching a run: one row per open run socket (presence)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="viewers")
    channel_name = models.CharField(max_length=200, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE, related_name="+"
    )
    label = models.CharField(max_length=150)  # a username, or "Shared link visitor"
    seen_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.label} on {self.run_id}"
