"""In-app help: the user-facing documents of docs/ as pages (``/help/<topic>/``).

The designer links here instead of naming a file in the repository. The Markdown is
ours, not a user's, but it is still sanitised (nh3) before it reaches a page: one
rule for every rendered text. Links between the documents become links between
the help pages; a link to a document that is not served here keeps its text only.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import markdown
import nh3
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_safe

DOCS_DIR = Path(settings.BASE_DIR) / "docs"


@dataclass(frozen=True)
class Topic:
    slug: str
    title: str
    filename: str


TOPICS = {
    t.slug: t
    for t in (
        Topic("designer", "The designer", "designer.md"),
        Topic("topology", "The topology document", "topology.md"),
        Topic("datatier", "Caches and databases", "datatier.md"),
    )
}
_BY_FILE = {t.filename: t for t in TOPICS.values()}
_DOC_LINK = re.compile(r"^(?:\./|docs/)?([a-z0-9_-]+\.md)(#[\w-]*)?$")
_TAGS = {
    *("h1", "h2", "h3", "h4", "p", "a", "ul", "ol", "li", "code", "pre", "em"),
    *("strong", "blockquote", "table", "thead", "tbody", "tr", "th", "td", "hr"),
    "br",
}
_ATTRIBUTES = {"a": {"href"}, "h1": {"id"}, "h2": {"id"}, "h3": {"id"}, "h4": {"id"}}


def _link(tag: str, attribute: str, value: str) -> str | None:
    if tag != "a" or attribute != "href":
        return value
    if value.startswith(("#", "https://", "http://")):
        return value
    match = _DOC_LINK.match(value)
    topic = _BY_FILE.get(match.group(1)) if match else None
    if topic is None:
        return None  # a file of the repository: not a page here
    return reverse("help", kwargs={"slug": topic.slug}) + (match.group(2) or "")


@functools.cache
def topic_html(slug: str) -> SafeString:
    """The topic's document as sanitised HTML (read once per process)."""
    topic = TOPICS[slug]
    text = (DOCS_DIR / topic.filename).read_text(encoding="utf-8")
    html = markdown.markdown(text, extensions=["tables", "fenced_code", "toc"])
    # Sanitised just here: safe to mark.
    return mark_safe(
        nh3.clean(html, tags=_TAGS, attributes=_ATTRIBUTES, attribute_filter=_link)
    )


@login_required
@require_safe
def help_page(request: HttpRequest, slug: str) -> HttpResponse:
    topic = TOPICS.get(slug)
    if topic is None:
        raise Http404("no such help page")
    return render(
        request,
        "help.html",
        {"topic": topic, "topics": TOPICS.values(), "body": topic_html(slug)},
    )
