"""The inbox's unread count for the header of every page.

Lazy: the count is read (one query on the partial index of unread notifications)
only when a template shows it, so htmx partial responses and anonymous pages cost
nothing, and only once per response however often the template asks.
"""

from __future__ import annotations

from functools import cached_property

from django.http import HttpRequest

from dashboard.access import signed_in


class InboxBadge:
    def __init__(self, user) -> None:
        self._user = user

    @cached_property
    def unread(self) -> int:
        from dashboard.reviews.selectors import unread_count

        return unread_count(user=self._user)


def inbox(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if not signed_in(user):
        return {}
    return {"inbox": InboxBadge(user)}
