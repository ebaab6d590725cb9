"""Design reviews: comments on a version, review decisions, and the inbox.

A comment belongs to one scenario version (what was said is about that exact
document), optionally pinned to one of its components or to a run of the scenario.
A review's status is the latest `ReviewDecision` of the version (none: open); every
decision is kept, so the review page shows its history. A `Notification` tells a
user they were mentioned, asked to review, or that a review they take part in was
decided; it is read once `read_at` is set.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

BODY_MAX_CHARS = 10_000
QUESTION_MAX_CHARS = 2_000
NOTE_MAX_CHARS = 2_000


class Review(models.Model):
    """The question a version's review asks, when someone set one (else the
    version's message stands for it)."""

    version = models.OneToOneField(
        "scenarios.ScenarioVersion", on_delete=models.CASCADE, related_name="review"
    )
    question = models.TextField(blank=True)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    opened_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Review of {self.version_id}"


class Comment(models.Model):
    version = models.ForeignKey(
        "scenarios.ScenarioVersion", on_delete=models.CASCADE, related_name="comments"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="review_comments",
    )
    # Threads are one level deep: a reply to a reply joins its thread's root.
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="replies",
    )
    body = models.TextField()
    # A pin: a component id of the version's document, or a run of the scenario.
    component_id = models.CharField(max_length=200, blank=True)
    run = models.ForeignKey(
        "runs.Run",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="review_comments",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    # A deleted comment that has replies stays as a placeholder so the thread reads.
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["version", "created_at"])]

    def __str__(self) -> str:
        return f"Comment {self.pk} on version {self.version_id}"


class ReviewDecision(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        APPROVED = "approved", "Approved"
        CHANGES_REQUESTED = "changes_requested", "Changes requested"

    version = models.ForeignKey(
        "scenarios.ScenarioVersion", on_delete=models.CASCADE, related_name="decisions"
    )
    status = models.CharField(max_length=20, choices=Status.choices)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="review_decisions",
    )
    decided_at = models.DateTimeField(auto_now_add=True, db_index=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-decided_at", "-pk"]
        indexes = [models.Index(fields=["version", "-decided_at"])]

    def __str__(self) -> str:
        return f"{self.status} on version {self.version_id}"


class Notification(models.Model):
    class Kind(models.TextChoices):
        MENTION = "mention", "Mentioned you"
        REVIEW_REQUEST = "review_request", "Asked for your review"
        DECISION = "decision", "Decided a review"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    version = models.ForeignKey(
        "scenarios.ScenarioVersion",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    comment = models.ForeignKey(
        Comment, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    decision = models.ForeignKey(
        ReviewDecision,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["recipient", "-created_at"]),
            # The header's unread count on every page reads only this.
            models.Index(
                fields=["recipient"],
                condition=models.Q(read_at__isnull=True),
                name="notification_unread",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.recipient_id}"
