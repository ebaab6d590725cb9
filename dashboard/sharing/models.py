"""Share links: read-only access to one scenario for whoever holds the link.

The token is shown once, when the link is made, and never stored: the row keeps its
SHA-256 (`token_hash`, unique, so a visit is one index lookup) and `hint`, its first
four characters, so the owner can tell links apart in the list. See docs/sharing.md.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from dashboard.runs.publish import share_group_name


class ShareLink(models.Model):
    scenario = models.ForeignKey(
        "scenarios.Scenario", on_delete=models.CASCADE, related_name="share_links"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="share_links",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    label = models.CharField(max_length=100, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=4, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.label or 'share link'} ({self.hint}…) for {self.scenario_id}"

    def is_active(self, *, now=None) -> bool:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now

    @property
    def group_name(self) -> str:
        """The channel-layer group of the run sockets opened through this link."""
        return share_group_name(self.pk)
