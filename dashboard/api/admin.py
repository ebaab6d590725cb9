"""API tokens in the Django admin, for operators: read-only (a hash is nothing to
edit), searchable, revocable through the app's own revoke."""

from __future__ import annotations

from django.contrib import admin

from dashboard.api.models import ApiToken
from dashboard.api.services import token_revoke


@admin.action(description="Revoke the selected tokens", permissions=["revoke"])
def revoke_tokens(modeladmin, request, queryset) -> None:
    for token in queryset.filter(revoked_at__isnull=True):
        token_revoke(token=token)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = (
        "prefix",
        "name",
        "user",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    list_filter = ("revoked_at", "expires_at")
    search_fields = ("name", "prefix", "user__username")
    readonly_fields = (
        "user",
        "name",
        "prefix",
        "token_hash",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    actions = [revoke_tokens]

    def has_revoke_permission(self, request) -> bool:
        # Revoking is the one change an operator makes to a token.
        return request.user.has_perm("api.change_apitoken")

    def has_add_permission(self, request) -> bool:
        return False  # a token is made by its user, where it can be shown once

    def has_change_permission(self, request, obj=None) -> bool:
        return False
