"""The "new API token" form: a name and when the token expires."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone

EXPIRY_CHOICES = [
    ("30d", "In 30 days"),
    ("90d", "In 90 days"),
    ("365d", "In a year"),
    ("7d", "In 7 days"),
    ("never", "Never"),
]
_DAYS = {"7d": 7, "30d": 30, "90d": 90, "365d": 365}


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        strip=True,
        help_text="What the token is for, e.g. the CI job that uses it.",
    )
    expires = forms.ChoiceField(choices=EXPIRY_CHOICES, initial="30d")

    def clean(self) -> dict:
        data = super().clean()
        days = _DAYS.get(data.get("expires", ""))
        data["expires_at"] = (
            timezone.now() + dt.timedelta(days=days) if days is not None else None
        )
        return data
