from django.urls import path

from dashboard.sweeps import views

urlpatterns = [
    path("scenarios/<int:pk>/sweeps/", views.sweep_list, name="sweep_list"),
    path("scenarios/<int:pk>/sweeps/new/", views.sweep_new, name="sweep_new"),
    path("sweeps/<int:sweep_id>/", views.sweep_detail, name="sweep_detail"),
    path("sweeps/<int:sweep_id>/data.json", views.sweep_data, name="sweep_data"),
    path("sweeps/<int:sweep_id>/cancel", views.sweep_cancel, name="sweep_cancel"),
    path("sweeps/<int:sweep_id>/points.csv", views.sweep_csv, name="sweep_csv"),
    # Reached by a share link's token, without a login: read-only.
    path(
        "s/<share_token:token>/sweeps/<int:sweep_id>/",
        views.shared_sweep,
        name="shared_sweep",
    ),
    path(
        "s/<share_token:token>/sweeps/<int:sweep_id>/data.json",
        views.shared_sweep_data,
        name="shared_sweep_data",
    ),
    path(
        "s/<share_token:token>/sweeps/<int:sweep_id>/points.csv",
        views.shared_sweep_csv,
        name="shared_sweep_csv",
    ),
]
