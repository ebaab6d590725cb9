"""Create the local account of the embedded default if no account exists yet."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand

USERNAME = "local"


class Command(BaseCommand):
    help = "Create a 'local' account (password kept in var/local_account.txt) if none exists."

    def handle(self, *args, **options) -> None:
        record = settings.VAR_DIR / "local_account.txt"
        if User.objects.exists():
            if record.exists():
                self.stdout.write(f"Log in as {record.read_text().strip()}")
            else:
                self.stdout.write("Log in with an existing account (or sign up).")
            return
        password = secrets.token_urlsafe(9)
        User.objects.create_user(USERNAME, password=password)
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        record.write_text(f"{USERNAME} / {password}\n")
        record.chmod(0o600)
        self.stdout.write(
            self.style.SUCCESS(
                f"Created a local account. Log in as {USERNAME} / {password} "
                f"(kept in {record})."
            )
        )
