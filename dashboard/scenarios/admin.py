"""The operators' view of scenarios and versions (Django admin, staff only).

Documents and layouts can be a megabyte: they are shown read-only, never as a form
an operator could change by accident (a version is immutable anyway)."""

from __future__ import annotations

from django.contrib import admin

from dashboard.scenarios.models import Scenario, ScenarioVersion


@admin.register(Scenario)
class ScenarioAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "team", "is_example", "updated_at"]
    # Personal or a team's (not one entry per team: there may be thousands).
    list_filter = ["is_example", ("team", admin.EmptyFieldListFilter), "updated_at"]
    search_fields = ["name", "slug", "owner__username", "team__name"]
    list_select_related = ["owner", "team"]
    raw_id_fields = ["owner", "team"]
    readonly_fields = ["created_at", "updated_at"]

    def has_add_permission(self, request) -> bool:
        return False  # a scenario starts with a valid version: create it in the app


@admin.register(ScenarioVersion)
class ScenarioVersionAdmin(admin.ModelAdmin):
    list_display = ["scenario", "number", "author", "message", "created_at"]
    list_filter = ["created_at"]
    search_fields = ["scenario__name", "message", "author__username"]
    list_select_related = ["scenario", "author"]
    fields = [
        "scenario",
        "number",
        "author",
        "message",
        "created_at",
        "document_text",
        "layout",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False  # versions come from saves, with their checks

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # immutable
