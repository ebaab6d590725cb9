from django.urls import path

from dashboard.reviews import views

_REVIEW = "scenarios/<int:pk>/versions/<int:number>/review"

urlpatterns = [
    path(f"{_REVIEW}/", views.review_detail, name="review_detail"),
    path(
        "scenarios/<int:pk>/versions/<int:number>/review.md",
        views.review_markdown,
        name="review_markdown",
    ),
    path(f"{_REVIEW}/comments", views.comment_create, name="review_comment_create"),
    path(
        f"{_REVIEW}/comments/<int:comment_id>/edit",
        views.comment_edit,
        name="review_comment_edit",
    ),
    path(
        f"{_REVIEW}/comments/<int:comment_id>/delete",
        views.comment_delete,
        name="review_comment_delete",
    ),
    path(f"{_REVIEW}/question", views.review_question, name="review_question"),
    path(f"{_REVIEW}/request", views.review_request, name="review_request"),
    path(f"{_REVIEW}/decide", views.review_decide, name="review_decide"),
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/<int:notification_id>/read", views.inbox_read, name="inbox_read"),
    path("inbox/read-all", views.inbox_read_all, name="inbox_read_all"),
    path("teams/<int:team_id>/activity/", views.team_activity, name="team_activity"),
]
