from django.urls import path

from dashboard.scenarios import designer_views, manage_views, version_views, views

urlpatterns = [
    path("", views.scenario_list, name="scenario_list"),
    path("scenarios/new", manage_views.scenario_new, name="scenario_new"),
    path("scenarios/<int:pk>/", views.scenario_detail, name="scenario_detail"),
    path(
        "scenarios/<int:pk>/validate", views.scenario_validate, name="scenario_validate"
    ),
    path("scenarios/<int:pk>/run", views.scenario_run, name="scenario_run"),
    path(
        "scenarios/<int:pk>/designer/apply",
        designer_views.designer_apply,
        name="designer_apply",
    ),
    path(
        "scenarios/<int:pk>/designer/inspect",
        designer_views.designer_inspect,
        name="designer_inspect",
    ),
    path(
        "scenarios/<int:pk>/versions/<int:number>/",
        version_views.scenario_version,
        name="scenario_version",
    ),
    path(
        "scenarios/<int:pk>/rename",
        manage_views.scenario_rename,
        name="scenario_rename",
    ),
    path(
        "scenarios/<int:pk>/delete",
        manage_views.scenario_delete,
        name="scenario_delete",
    ),
    path("scenarios/<int:pk>/move", manage_views.scenario_move, name="scenario_move"),
    path(
        "scenarios/<int:pk>/versions/<int:number>/restore",
        version_views.scenario_version_restore,
        name="scenario_version_restore",
    ),
    path(
        "scenarios/<int:pk>/versions/<int:number>/fork",
        version_views.scenario_version_fork,
        name="scenario_version_fork",
    ),
    path(
        "scenarios/<int:pk>/fork",
        version_views.scenario_fork_text,
        name="scenario_fork",
    ),
    path(
        "scenarios/<int:pk>/diff/",
        version_views.scenario_diff_pick,
        name="scenario_diff_pick",
    ),
    path(
        "scenarios/<int:pk>/diff/<int:a>/<int:b>/",
        version_views.scenario_diff,
        name="scenario_diff",
    ),
    path("examples/<slug:slug>/copy", views.example_copy, name="example_copy"),
]
