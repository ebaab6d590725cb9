"""Personal access tokens for the HTTP API (`/api/v1/`, docs/api.md).

A token is `sb_` + `secrets.token_urlsafe(32)`, shown once when it is made and never
stored: the row keeps its SHA-256 (`token_hash`, unique: a request is one index
lookup) and `prefix`, its first characters, so its owner can tell tokens apart.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # Written at most once a minute (services.token_touch), not on every request.
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) of {self.user_id}"

    def status(self, *, now=None) -> str:
        """ "active", "revoked" or "expired"."""
        if self.revoked_at is not None:
            return "revoked"
        now = now or timezone.now()
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    @property
    def is_active(self) -> bool:
        return self.status() == "active"
