from django.urls import path, register_converter

from dashboard.runs import report_views
from dashboard.sharing import manage_views, views
from dashboard.sharing.tokens import TokenConverter

register_converter(TokenConverter, "share_token")

urlpatterns = [
    path("scenarios/<int:pk>/share/", manage_views.share_manage, name="share_manage"),
    path(
        "scenarios/<int:pk>/share/<int:link_id>/revoke",
        manage_views.share_revoke,
        name="share_revoke",
    ),
    # Reached by token, without a login: read-only (dashboard/sharing/views.py).
    path("s/<share_token:token>/", views.shared_scenario, name="shared_scenario"),
    path(
        "s/<share_token:token>/designer/apply",
        views.shared_designer_apply,
        name="shared_designer_apply",
    ),
    path(
        "s/<share_token:token>/versions/<int:number>/",
        views.shared_version,
        name="shared_version",
    ),
    path(
        "s/<share_token:token>/diff/<int:a>/<int:b>/",
        views.shared_diff,
        name="shared_diff",
    ),
    path("s/<share_token:token>/runs/", views.shared_run_list, name="shared_run_list"),
    path(
        "s/<share_token:token>/runs/<uuid:run_id>/",
        views.shared_run,
        name="shared_run",
    ),
    path(
        "s/<share_token:token>/runs/<uuid:run_id>/report",
        views.shared_run_report,
        name="shared_run_report",
    ),
    path(
        "s/<share_token:token>/runs/<uuid:run_id>/report.json",
        views.shared_run_report_json,
        name="shared_run_report_json",
    ),
    # The report page and its exports, read-only (dashboard/runs/report_views.py).
    path(
        "s/<share_token:token>/runs/<uuid:run_id>/summary/",
        report_views.shared_run_summary,
        name="shared_run_summary",
    ),
    path(
        "s/<share_token:token>/runs/<uuid:run_id>/timeline.csv",
        report_views.shared_run_timeline_csv,
        name="shared_run_timeline_csv",
    ),
    path(
        "s/<share_token:token>/runs/<uuid:run_id>/timeline.json",
        report_views.shared_run_timeline_json,
        name="shared_run_timeline_json",
    ),
]
