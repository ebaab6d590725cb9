"""The Django admin for operators: comments, decisions, questions, notifications."""

from __future__ import annotations

from django.contrib import admin

from dashboard.reviews.models import Comment, Notification, Review, ReviewDecision


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = (
        "pk",
        "version",
        "author",
        "component_id",
        "created_at",
        "deleted_at",
    )
    list_filter = ("created_at",)
    search_fields = ("body", "author__username", "component_id")
    raw_id_fields = ("version", "author", "parent", "run")


@admin.register(ReviewDecision)
class ReviewDecisionAdmin(admin.ModelAdmin):
    list_display = ("pk", "version", "status", "decided_by", "decided_at")
    list_filter = ("status",)
    raw_id_fields = ("version", "decided_by")


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ("pk", "version", "opened_by", "opened_at")
    raw_id_fields = ("version", "opened_by")


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("pk", "recipient", "kind", "actor", "created_at", "read_at")
    list_filter = ("kind",)
    raw_id_fields = ("recipient", "actor", "version", "comment", "decision")
