"""Every page loads an ES module as a module.

designer.js imports its parts (`import { installDoc } from "./designer-doc.js"`); a
page that loads it with a plain `<script src>` gets "Cannot use import statement
outside a module" and an empty canvas (the shared page did, after the designer was
split into modules). The walker opens every named route, and each script tag whose
file has an `import` statement must say `type="module"`.
"""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders

SCRIPT = re.compile(r"<script\b([^>]*)>", re.I)
SRC = re.compile(r'\bsrc="([^"?#]+)')
IMPORT = re.compile(r"^\s*import\s.*\bfrom\s|^\s*import\s+[\"']", re.M)


def _imports(src: str) -> bool:
    """Whether the static file at `src` has an import statement."""
    if not src.startswith(settings.STATIC_URL):
        return False
    path = finders.find(src.removeprefix(settings.STATIC_URL))
    if path is None:
        return False
    with open(path, encoding="utf-8") as f:
        return bool(IMPORT.search(f.read()))


def _classic_scripts_that_import(html: str) -> list[str]:
    bad = []
    for attrs in SCRIPT.findall(html):
        src = SRC.search(attrs)
        if src and _imports(src.group(1)) and 'type="module"' not in attrs:
            bad.append(src.group(1))
    return bad


def test_the_designer_is_a_module_and_the_check_sees_it():
    """The check below is not empty: designer.js does import its parts."""
    assert _imports(f"{settings.STATIC_URL}js/designer.js")
    assert not _imports(f"{settings.STATIC_URL}js/app.js")
    assert _classic_scripts_that_import(
        f'<script src="{settings.STATIC_URL}js/designer.js"></script>'
    ) == [f"{settings.STATIC_URL}js/designer.js"]


@pytest.mark.django_db
def test_every_page_loads_its_es_modules_as_modules(alice_client, route_urls):
    pages = 0
    for name, url in route_urls:
        response = alice_client.get(url)
        if response.status_code != 200 or not response["Content-Type"].startswith(
            "text/html"
        ):
            continue
        pages += 1
        html = response.content.decode()
        assert _classic_scripts_that_import(html) == [], (name, url)
    assert pages >= 20  # the walker reached the pages (scenario, shared, review...)
