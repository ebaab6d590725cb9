from django.apps import AppConfig


class SweepsConfig(AppConfig):
    name = "dashboard.sweeps"
    label = "sweeps"

    def ready(self) -> None:
        from dashboard.runs.signals import run_finished
        from dashboard.sweeps.services import sweep_run_finished

        run_finished.connect(sweep_run_finished, dispatch_uid="sweeps-run-finished")
