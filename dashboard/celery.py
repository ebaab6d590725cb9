"""The Celery application.

Workers run simulations: `celery -A dashboard worker`. Every worker also reaps runs whose
worker died (see `dashboard.runs.reaper`), so no extra beat process is needed.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

app = Celery("dashboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _install_reaper() -> None:
    from dashboard.runs.reaper import ReaperStep

    app.steps["worker"].add(ReaperStep)


_install_reaper()
