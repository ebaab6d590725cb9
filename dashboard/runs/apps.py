from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "dashboard.runs"
    label = "runs"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from dashboard.runs.publish import session_ended

        user_logged_out.connect(session_ended, dispatch_uid="runs-session-ended")
