from django.urls import path

from dashboard.api import views
from dashboard.api.api import api_urls

urlpatterns = [
    path("account/tokens/", views.token_list, name="api_tokens"),
    path(
        "account/tokens/<int:token_id>/revoke",
        views.token_revoke,
        name="api_token_revoke",
    ),
    path("api/v1/", api_urls()),
]
