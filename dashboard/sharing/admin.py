"""Share links in the Django admin, for operators: read-only (a token hash is not
something to edit), searchable, revocable through the app's own revoke."""

from __future__ import annotations

from django.contrib import admin

from dashboard.sharing.models import ShareLink
from dashboard.sharing.services import share_link_revoke


@admin.action(description="Revoke the selected links", permissions=["revoke"])
def revoke_links(modeladmin, request, queryset) -> None:
    for link in queryset.filter(revoked_at__isnull=True):
        share_link_revoke(link=link)


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    list_display = (
        "hint",
        "label",
        "scenario",
        "created_by",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    list_filter = ("revoked_at", "expires_at")
    search_fields = ("label", "hint", "scenario__name", "created_by__username")
    readonly_fields = (
        "scenario",
        "created_by",
        "created_at",
        "label",
        "expires_at",
        "revoked_at",
        "token_hash",
        "hint",
        "last_used_at",
    )
    actions = [revoke_links]

    def has_revoke_permission(self, request) -> bool:
        # Revoking is the one change an operator makes to a link.
        return request.user.has_perm("sharing.change_sharelink")

    def has_add_permission(self, request) -> bool:
        return False  # a link is made on its scenario, where its URL can be shown

    def has_change_permission(self, request, obj=None) -> bool:
        return False
