"""The operators' view of runs (Django admin, staff only). The report, the document
and the state fields are read-only: a run's state belongs to the run services."""

from __future__ import annotations

from django.contrib import admin

from dashboard.runs.models import Run


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "name",
        "owner",
        "scenario",
        "status",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "created_at"]
    search_fields = ["=id", "name", "owner__username", "scenario__name", "worker"]
    list_select_related = ["owner", "scenario"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "id",
        "owner",
        "scenario",
        "version",
        "name",
        "document_text",
        "seed",
        "status",
        "created_at",
        "queued_at",
        "started_at",
        "finished_at",
        "heartbeat_at",
        "attempt_token",
        "attempts",
        "worker",
        "progress",
        "last_seq",
        "report",
        "error",
    ]

    def has_add_permission(self, request) -> bool:
        return False  # runs are started from a scenario, through the run limits

    def get_queryset(self, request):
        # The list never needs the report or the document (hundreds of kilobytes).
        qs = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith(
            "_changelist"
        ):
            qs = qs.defer("report", "document_text")
        return qs
