"""A sweep: one numeric field of a scenario's document varied, each point a `Run`.

A plain sweep runs a list of values; a capacity sweep runs the rounds of
`simengine.CapacitySearch` (dashboard/sweeps/services.py). With a compare version
(A/B), every value runs on both versions: series "a" (the sweep's version) and "b".
The database owns a sweep's state, as it owns a run's: there is no coordinator
task; each point run that ends advances its sweep (`runs.signals.run_finished`).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Sweep(models.Model):
    class Kind(models.TextChoices):
        SWEEP = "sweep"
        CAPACITY = "capacity"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    ACTIVE = (Status.QUEUED, Status.RUNNING)
    FINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    scenario = models.ForeignKey(
        "scenarios.Scenario", on_delete=models.CASCADE, related_name="sweeps"
    )
    version = models.ForeignKey(
        "scenarios.ScenarioVersion", on_delete=models.CASCADE, related_name="sweeps"
    )
    # A/B: the same values on another version of the scenario (series "b").
    compare_version = models.ForeignKey(
        "scenarios.ScenarioVersion",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="compared_sweeps",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sweeps"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    vary = models.CharField(max_length=300)
    values = models.JSONField(default=list, blank=True)  # a plain sweep's points
    low = models.FloatField(null=True, blank=True)  # capacity: None = the bracket
    high = models.FloatField(null=True, blank=True)
    resolution = models.FloatField(default=0.01)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    # Capacity: {"a": CapacitySearch.result() without the reports, "b": ...}.
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.kind} of {self.vary} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL

    @property
    def series(self) -> list[str]:
        return ["a", "b"] if self.compare_version_id else ["a"]


class SweepPoint(models.Model):
    """One value of one series: a normal `Run` of the point's document. `figures`
    (the chart's numbers, read out of the run's report once) and `met` are written
    when the run has ended (`recorded`)."""

    sweep = models.ForeignKey(Sweep, on_delete=models.CASCADE, related_name="points")
    series = models.CharField(max_length=1, default="a")
    value = models.FloatField()
    round = models.PositiveSmallIntegerField(default=0)  # capacity: the search round
    run = models.ForeignKey(
        "runs.Run",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sweep_points",
    )
    recorded = models.BooleanField(default=False)
    status = models.CharField(max_length=10, blank=True)  # the run's, once recorded
    met = models.BooleanField(null=True, blank=True)
    figures = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["series", "value"]
        constraints = [
            models.UniqueConstraint(
                fields=["sweep", "series", "value"], name="unique_sweep_point"
            )
        ]

    def __str__(self) -> str:
        return f"{self.sweep_id} {self.series} {self.value:g}"
