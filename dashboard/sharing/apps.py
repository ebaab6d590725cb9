from django.apps import AppConfig


class SharingConfig(AppConfig):
    name = "dashboard.sharing"
    default_auto_field = "django.db.models.BigAutoField"
