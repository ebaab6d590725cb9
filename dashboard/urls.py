from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from dashboard import help_pages
from dashboard.accounts import views as account_views
from dashboard.health import healthz

# A database with no connection free answers 503 + Retry-After, not 500 (serving.py).
handler500 = "dashboard.serving.server_error"

urlpatterns = [
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", account_views.signup, name="signup"),
    path("healthz", healthz, name="healthz"),
    path("help/<slug:slug>/", help_pages.help_page, name="help"),
    path("", include("dashboard.scenarios.urls")),
    path("", include("dashboard.runs.urls")),
    path("", include("dashboard.sharing.urls")),
    path("", include("dashboard.reviews.urls")),
    path("", include("dashboard.teams.urls")),
    path("", include("dashboard.api.urls")),
    path("admin/", admin.site.urls),
]
