from django.urls import path

from dashboard.teams import views

urlpatterns = [
    path("teams/", views.team_list, name="team_list"),
    path("teams/new", views.team_new, name="team_new"),
    path("teams/<int:team_id>/", views.team_detail, name="team_detail"),
    path("teams/<int:team_id>/rename", views.team_rename, name="team_rename"),
    path("teams/<int:team_id>/leave", views.team_leave, name="team_leave"),
    path(
        "teams/<int:team_id>/members/add",
        views.team_member_add,
        name="team_member_add",
    ),
    path(
        "teams/<int:team_id>/members/<int:user_id>/role",
        views.team_member_role,
        name="team_member_role",
    ),
    path(
        "teams/<int:team_id>/members/<int:user_id>/remove",
        views.team_member_remove,
        name="team_member_remove",
    ),
]
