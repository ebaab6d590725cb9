"""Posted text that cannot be stored is refused up front, the same on every database.

PostgreSQL refuses NUL (U+0000) in text, SQLite would store it; a lone surrogate has
no UTF-8 encoding at all. Any such form field or query parameter is a 400 naming the
field, before the view runs, so nothing is saved and SQLite behaves as PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest


def unstorable(text: str) -> str | None:
    """What is wrong with `text` for storing it, or None when nothing is."""
    if "\x00" in text:
        return "contains a NUL character (U+0000), which cannot be stored"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "contains a lone surrogate, which is not Unicode text"
    return None


def bad_field(request: HttpRequest) -> str | None:
    """The first query parameter or form field (name or value) that cannot be
    stored, as "field: reason"; None when all can."""
    sources = [request.GET]
    if request.method == "POST":
        sources.append(request.POST)
    for data in sources:
        for name, values in data.lists():
            for text in (name, *values):
                problem = unstorable(text)
                if problem:
                    shown = name if unstorable(name) is None else repr(name)
                    return f"{shown}: {problem}"
    return None


def refuse_unstorable_text(
    view: Callable[..., HttpResponse],
) -> Callable[..., HttpResponse]:
    """A view decorator: 400 (text/plain, the field and the reason) for any query
    parameter or form field that `unstorable` refuses."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        problem = bad_field(request)
        if problem:
            return HttpResponseBadRequest(problem, content_type="text/plain")
        return view(request, *args, **kwargs)

    return wrapped
