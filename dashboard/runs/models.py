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
