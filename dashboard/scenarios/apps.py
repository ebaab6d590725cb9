from django.apps import AppConfig


class ScenariosConfig(AppConfig):
    name = "dashboard.scenarios"
    label = "scenarios"
