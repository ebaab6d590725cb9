"""Scenarios and their versions.

A scenario is a named topology document that belongs to a user (`owner`) or to a team
(`team`), never both; every save is a new, immutable version, so a run always points at
the exact document it simulated. Built-in examples are scenarios with neither
(`is_example`), loaded from `examples/` by `load_examples`. Who may do what with one is
decided in `dashboard.access`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Scenario(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="scenarios",
    )
    team = models.ForeignKey(
        "teams.Team",
        null=True,
        blank=True,
        on_delete=models.PROTECT,  # a team with scenarios is not deleted with them
        related_name="scenarios",
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    is_example = models.BooleanField(default=False)
    slug = models.SlugField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["slug"],
                condition=models.Q(is_example=True),
                name="unique_example_slug",
            ),
            models.CheckConstraint(
                condition=models.Q(is_example=True, owner=None, team=None)
                | models.Q(is_example=False, owner__isnull=False, team=None)
                | models.Q(is_example=False, owner=None, team__isnull=False),
                name="scenario_owner_xor_team",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def latest_version(self) -> ScenarioVersion | None:
        return self.versions.order_by("-number").first()


class ScenarioVersion(models.Model):
    scenario = models.ForeignKey(
        Scenario, on_delete=models.CASCADE, related_name="versions"
    )
    number = models.PositiveIntegerField()
    document_text = models.TextField()
    message = models.CharField(max_length=300, blank=True)
    # The designer's node positions, {"positions": {id: {x, y}}}: presentation only,
    # never part of the document (the engine does not see it).
    layout = models.JSONField(default=dict, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["scenario", "number"], name="unique_version_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.scenario.name} v{self.number}"
