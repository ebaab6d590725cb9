"""The operators' view of teams (Django admin, staff only): members inline."""

from __future__ import annotations

from django.contrib import admin

from dashboard.teams.models import Membership, Team


class MembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "team"
    extra = 0
    autocomplete_fields = ["user"]
    readonly_fields = ["added_by", "added_at"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "created_by", "created_at"]
    search_fields = ["name", "memberships__user__username"]
    list_filter = ["created_at"]
    readonly_fields = ["created_by", "created_at"]
    inlines = [MembershipInline]
