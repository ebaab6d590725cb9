"""The Scaleboard Django project: settings, URLs, ASGI, the Celery app and its apps."""

from dashboard.celery import app as celery_app

__all__ = ["celery_app"]
