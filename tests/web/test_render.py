"""The one renderer of review text (`dashboard.reviews.render`): the classic stored-XSS
payloads go in, nothing executable comes out; the Markdown subset still works."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from dashboard.reviews.render import mentions_in, render_comment, sanitize

PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    '<img src="javascript:alert(1)">',
    "![x](javascript:alert(1))",
    "![x](http://evil.example/a.png)",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click]( javascript:alert(1) )",
    "[click](&#106;avascript:alert(1))",
    "[click](vbscript:msgbox(1))",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    "<iframe src=javascript:alert(1)></iframe>",
    "<body onload=alert(1)>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '"><script>alert(1)</script>',
    "<a href='x' onclick='alert(1)'>x</a>",
    '[x](http://ok.example "title" onmouseover=alert(1))',
    "<details open ontoggle=alert(1)>",
    "`<script>alert(1)</script>`",
    "    <script>alert(1)</script>",
    "<!-- <script>alert(1)</script> -->",
    "<<script>script>alert(1)<</script>/script>",
]

ALLOWED = {"p", "em", "strong", "code", "pre", "ul", "ol", "li", "a", "blockquote"}


class _Elements(HTMLParser):
    """Every element and attribute a browser would build from the HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def executable(html: str) -> list[str]:
    """What in `html` could run or load: elements outside the allow-list, any
    attribute but a link's href/rel/class, an href that is not http(s)/mailto or
    relative."""
    parser = _Elements()
    parser.feed(html)
    parser.close()
    found = []
    for tag, attrs in parser.elements:
        if tag not in ALLOWED:
            found.append(f"<{tag}>")
        allowed_attrs = {"href", "rel", "class"} if tag == "a" else set()
        found += [f"{tag}[{name}]" for name in attrs if name not in allowed_attrs]
        href = (attrs.get("href") or "").strip().lower()
        scheme = re.match(r"^([a-z][a-z0-9+.-]*):", href)
        if scheme and scheme.group(1) not in {"http", "https", "mailto"}:
            found.append(f"href={href}")
    return found


@pytest.mark.parametrize("payload", PAYLOADS)
def test_no_payload_leaves_anything_executable(payload):
    html = str(render_comment(payload, mention_links={"alice": "/inbox/"}))
    assert executable(html) == [], html


def test_the_checker_itself_sees_executable_html():
    assert executable('<img src=x onerror="alert(1)">') == [
        "<img>",
        "img[src]",
        "img[onerror]",
    ]
    assert executable('<a href=" JavaScript:alert(1)">x</a>') == [
        "href=javascript:alert(1)"
    ]
    assert executable("<p>&lt;img src=x onerror=alert(1)&gt;</p>") == []


def test_raw_html_shows_as_the_text_the_user_typed():
    html = str(render_comment("<b>bold?</b> & <i>x</i>"))
    assert html == "<p>&lt;b&gt;bold?&lt;/b&gt; &amp; &lt;i&gt;x&lt;/i&gt;</p>"


def test_the_markdown_subset_renders():
    html = str(
        render_comment(
            "**strong** _em_ `code`\n\n- one\n- two\n\nthen\n\n1. first\n\n> quoted\n\n"
            "    block\n\n[link](https://example.com/a?b=1)"
        )
    )
    for fragment in (
        "<strong>strong</strong>",
        "<em>em</em>",
        "<code>code</code>",
        "<ul>\n<li>one</li>",
        "<ol>\n<li>first</li>",
        "<blockquote>",
        "<pre><code>block",
        '<a href="https://example.com/a?b=1" rel="noopener nofollow">link</a>',
    ):
        assert fragment in html


def test_links_carry_rel_noopener_nofollow_and_only_safe_schemes():
    assert 'rel="noopener nofollow"' in str(render_comment("[a](http://x.example)"))
    assert "href" not in str(render_comment("[a](javascript:alert(1))"))
    assert "href" not in str(render_comment("[a](data:text/html,hi)"))
    assert 'href="mailto:a@x.example"' in str(render_comment("[m](mailto:a@x.example)"))


def test_sanitize_is_the_last_word_on_any_html():
    dirty = (
        '<p onclick="x()">hi<script>alert(1)</script><a href="javascript:y">z</a></p>'
    )
    assert sanitize(dirty) == '<p>hi<a rel="noopener nofollow">z</a></p>'


def test_mentions_link_members_only_and_not_inside_code():
    links = {"carol": "/teams/1/activity/?actor=carol"}
    html = str(render_comment("@carol, @mallory and `@carol`.", mention_links=links))
    assert html.count('class="mention"') == 1
    assert '<a class="mention" href="/teams/1/activity/?actor=carol"' in html
    assert "@mallory" in html and "<code>@carol</code>" in html
    assert mentions_in("hi @carol. `@carol` @mallory", mention_links=links) == {"carol"}
    assert mentions_in("mail carol@example.com", mention_links=links) == set()


def test_a_mention_link_cannot_be_forged_into_a_script_url():
    # A username is looked up in the members' map; the text never becomes the URL.
    links = {"x": "/inbox/"}
    html = str(render_comment("@x[y](javascript:alert(1))", mention_links=links))
    assert executable(html) == []
    assert '<a class="mention" href="/inbox/"' in html
