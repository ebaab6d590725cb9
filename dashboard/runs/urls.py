from django.urls import path

from dashboard.runs import report_views, views, whatif_views

urlpatterns = [
    path("runs/", report_views.run_list, name="run_list"),
    path("runs/<uuid:run_id>/", views.run_detail, name="run_detail"),
    path("runs/<uuid:run_id>/report", views.run_report, name="run_report"),
    path(
        "runs/<uuid:run_id>/report.json", views.run_report_json, name="run_report_json"
    ),
    path("runs/<uuid:run_id>/cancel", views.run_cancel, name="run_cancel"),
    path("runs/<uuid:run_id>/inject", whatif_views.run_inject_view, name="run_inject"),
    path("runs/<uuid:run_id>/again", whatif_views.run_again_view, name="run_again"),
    # The report page, its exports, deleting (dashboard/runs/report_views.py).
    path("runs/<uuid:run_id>/summary/", report_views.run_summary, name="run_summary"),
    path(
        "runs/<uuid:run_id>/timeline.csv",
        report_views.run_timeline_csv,
        name="run_timeline_csv",
    ),
    path(
        "runs/<uuid:run_id>/timeline.json",
        report_views.run_timeline_json,
        name="run_timeline_json",
    ),
    path("runs/<uuid:run_id>/delete", report_views.run_delete, name="run_delete"),
]
