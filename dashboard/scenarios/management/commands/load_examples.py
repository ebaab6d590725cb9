"""Load (or update) the built-in example scenarios from `examples/*.yaml`."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

import simengine
from dashboard.scenarios.services import example_upsert


class Command(BaseCommand):
    help = "Load the example topology documents of examples/ as built-in scenarios."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dir", default=str(settings.BASE_DIR / "examples"))

    def handle(self, *args, **options) -> None:
        folder = Path(options["dir"])
        files = sorted(
            [*folder.glob("*.yaml"), *folder.glob("*.yml"), *folder.glob("*.json")]
        )
        if not files:
            raise CommandError(f"No example documents in {folder}")
        changed = 0
        for path in files:
            try:
                _, was_changed = example_upsert(slug=path.stem, text=path.read_text())
            except simengine.DocumentError as exc:
                raise CommandError(f"{path.name}: {exc}") from exc
            changed += was_changed
        self.stdout.write(f"Examples: {len(files)} loaded, {changed} new or updated.")
