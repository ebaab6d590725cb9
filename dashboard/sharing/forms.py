"""The "new share link" form: an optional label and when the link expires."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone

EXPIRY_CHOICES = [
    ("never", "Never"),
    ("1d", "In 1 day"),
    ("7d", "In 7 days"),
    ("30d", "In 30 days"),
    ("date", "On a date"),
]
_DAYS = {"1d": 1, "7d": 7, "30d": 30}
MAX_DAYS_AHEAD = 366


class ShareLinkForm(forms.Form):
    label = forms.CharField(
        max_length=100,
        required=False,
        strip=True,
        help_text="Who or what the link is for (only you and your team see it).",
    )
    expires = forms.ChoiceField(choices=EXPIRY_CHOICES, initial="7d")
    expires_on = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="With “On a date”: the link works through the end of that day (UTC).",
    )

    def clean(self) -> dict:
        data = super().clean()
        choice = data.get("expires")
        on = data.get("expires_on")
        now = timezone.now()
        if choice in _DAYS:
            data["expires_at"] = now + dt.timedelta(days=_DAYS[choice])
        elif choice == "date":
            if on is None:
                if "expires_on" not in self.errors:
                    self.add_error("expires_on", "Choose the date the link expires.")
                return data
            today = now.date()
            if on < today:
                self.add_error("expires_on", "Choose today or a later date.")
            elif (on - today).days > MAX_DAYS_AHEAD:
                self.add_error("expires_on", "Choose a date within a year.")
            else:
                end = dt.datetime.combine(on + dt.timedelta(days=1), dt.time.min)
                data["expires_at"] = end.replace(tzinfo=dt.UTC)
        else:
            data["expires_at"] = None
        return data
