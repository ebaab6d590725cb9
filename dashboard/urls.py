from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.http import require_safe

from dashboard.accounts import views as account_views


@require_safe
def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", account_views.signup, name="signup"),
    path("healthz", healthz, name="healthz"),
    path("", include("dashboard.scenarios.urls")),
    path("", include("dashboard.runs.urls")),
]
