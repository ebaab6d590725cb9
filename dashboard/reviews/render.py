"""The one way user text of a review becomes HTML: a Markdown subset, sanitised.

Comments are Markdown (`markdown`), with raw HTML turned off (it shows as the text
the user typed), then cleaned by `nh3` (Ammonia) down to a small allow-list: p, em,
strong, code, pre, ul, ol, li, blockquote and links (http, https, mailto only,
rel="noopener nofollow"). No images, no attributes but a link's href, no script,
no event handler, no style survives. `@username` of someone who may be mentioned
becomes a link (class "mention"); any other @word stays text.

Nothing else in the app marks user text safe: templates call `render_comment`.
"""

from __future__ import annotations

import xml.etree.ElementTree as etree
from collections.abc import Mapping

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown.inlinepatterns import InlineProcessor

ALLOWED_TAGS = {
    "p",
    "em",
    "strong",
    "code",
    "pre",
    "ul",
    "ol",
    "li",
    "a",
    "blockquote",
}
ALLOWED_ATTRIBUTES = {"a": {"href"}}
ALLOWED_CLASSES = {"a": {"mention"}}
URL_SCHEMES = {"http", "https", "mailto"}

# Django usernames: letters, digits and @.+-_ ; a mention ends before a trailing dot.
MENTION_RE = r"(?<![\w@])@([\w.+-]*[\w+-])"


class _MentionProcessor(InlineProcessor):
    def __init__(self, pattern: str, links: Mapping[str, str]) -> None:
        super().__init__(pattern)
        self.links = links
        self.mentioned: set[str] = set()

    def handleMatch(self, m, data):
        url = self.links.get(m.group(1))
        if url is None:
            return None, None, None  # not someone who may be mentioned: plain text
        self.mentioned.add(m.group(1))
        el = etree.Element("a", {"href": url, "class": "mention"})
        el.text = "@" + m.group(1)
        return el, m.start(0), m.end(0)


def _markdown(text: str, links: Mapping[str, str]) -> tuple[str, set[str]]:
    md = markdown.Markdown(extensions=[], output_format="html")
    # Raw HTML is not Markdown here: typed tags show as text (escaped), not markup.
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    mentions = _MentionProcessor(MENTION_RE, links)
    md.inlinePatterns.register(mentions, "mention", 65)
    return md.convert(text), mentions.mentioned


def sanitize(html: str) -> str:
    """`html` cut down to the allow-list (the last word, whatever produced it)."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        allowed_classes=ALLOWED_CLASSES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener nofollow",
        strip_comments=True,
    )


def render_comment(
    text: str, *, mention_links: Mapping[str, str] | None = None
) -> SafeString:
    """A comment's Markdown as safe HTML. `mention_links` maps the usernames that
    may be mentioned to the URL their mention links to."""
    html, _ = _markdown(text, mention_links or {})
    return mark_safe(sanitize(html))


def mentions_in(text: str, *, mention_links: Mapping[str, str]) -> set[str]:
    """The usernames of `mention_links` that `text` mentions as it renders (an
    @name inside code is not a mention): who is notified is who is linked."""
    _, mentioned = _markdown(text, mention_links)
    return mentioned
