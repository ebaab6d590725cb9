from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "dashboard.reviews"
    default_auto_field = "django.db.models.BigAutoField"
