from django.urls import path

from dashboard.scenarios import designer_views, manage_views, views

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
        views.scenario_version,
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
    path("examples/<slug:slug>/copy", views.example_copy, name="example_copy"),
]
