"""Bad input is never a 500: NUL characters, lone surrogates, a multipart body where
JSON is expected, duplicate keys, very long query strings. Each is a clear 400 (or,
for a preview, an inline error) with nothing saved, the same on SQLite and PostgreSQL
(run this module on both).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.runs.models import Run
from dashboard.scenarios.models import Scenario, ScenarioVersion
from tests.web.factories import SMALL_DOC, make_scenario

ROOT = Path(__file__).resolve().parents[2]
NUL_DOC = SMALL_DOC.replace("rps: 100", "rps: 100\x00")
NUL_NAME_DOC = SMALL_DOC.replace("name: Small web tier", 'name: "Small\\0 tier"')
SURROGATE_NAME_DOC = json.dumps({"scaleboard": 1, "name": "x"}).replace(
    '"x"', '"x\\ud800"'
)
DUPLICATE_DOC = SMALL_DOC.replace("rps: 100}", "rps: 100, rps: 200}")

# (what, form fields, the field the 400 must name, or None for a document error)
BAD_FORMS = [
    ("NUL in the document", {"document": NUL_DOC}, "document"),
    ("NUL in the message", {"document": SMALL_DOC, "message": "hi\x00"}, "message"),
    ("NUL in the layout", {"document": SMALL_DOC, "layout": '{"a\x00": 1}'}, "layout"),
    ("NUL in a field's name", {"document": SMALL_DOC, "x\x00": "1"}, "x"),
    ("a NUL escape in the name", {"document": NUL_NAME_DOC}, "name"),
    ("a surrogate escape in the name", {"document": SURROGATE_NAME_DOC}, "name"),
    ("a key given twice", {"document": DUPLICATE_DOC}, "workload.rps"),
]
SAVING_ROUTES = ["scenario_detail", "scenario_run"]


def _counts() -> tuple[int, int, int]:
    return (
        Scenario.objects.count(),
        ScenarioVersion.objects.count(),
        Run.objects.count(),
    )


@pytest.fixture
def no_enqueue(monkeypatch):
    monkeypatch.setattr("dashboard.runs.services._enqueue", lambda run_id: None)


@pytest.mark.django_db
@pytest.mark.parametrize("route", SAVING_ROUTES)
@pytest.mark.parametrize(("what", "fields", "named"), BAD_FORMS, ids=lambda v: v)
def test_bad_text_posted_to_save_or_run_is_a_400_naming_it_and_saves_nothing(
    alice, alice_client, no_enqueue, route, what, fields, named
):
    scenario = make_scenario(alice)
    before = _counts()

    response = alice_client.post(reverse(route, args=[scenario.pk]), fields)

    assert response.status_code == 400, what
    assert named in response.content.decode(), what
    assert _counts() == before
    scenario.refresh_from_db()
    assert "\x00" not in scenario.name


@pytest.mark.django_db
@pytest.mark.parametrize("route", ["scenario_validate", "designer_inspect"])
@pytest.mark.parametrize("field", ["document", "subject"])
def test_nul_posted_to_a_preview_is_a_400_naming_the_field(
    alice, alice_client, route, field
):
    scenario = make_scenario(alice)
    fields = {"document": SMALL_DOC, "subject": "web", field: "we\x00b"}

    response = alice_client.post(reverse(route, args=[scenario.pk]), fields)

    assert response.status_code == 400
    assert field in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["a\x00b", "\x00", "x" * 8000])
def test_search_queries_with_nul_are_refused_and_long_ones_answered(
    alice_client, query
):
    response = alice_client.get(reverse("scenario_list"), {"q": query})
    assert response.status_code == (400 if "\x00" in query else 200)


@pytest.mark.django_db
def test_a_query_string_with_thousands_of_fields_is_a_400(alice_client):
    url = reverse("scenario_list") + "?" + "&".join(f"f{i}=1" for i in range(2000))
    assert alice_client.get(url).status_code == 400


# --- the designer's JSON endpoint -----------------------------------------------


def _apply(client, scenario, body: str | bytes, content_type="application/json"):
    return client.post(
        reverse("designer_apply", args=[scenario.pk]),
        data=body,
        content_type=content_type,
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        '{"text": "name: \\ud800"}',
        '{"tree": {"scaleboard": 1, "name": "\\udfff"}}',
        '{"tree": {"\\ud800": 1}}',
        '{"text": "x", "format": "\\ud800"}',
    ],
)
def test_lone_surrogates_in_the_designer_apply_body_are_a_400(
    alice, alice_client, body
):
    scenario = make_scenario(alice)
    response = _apply(alice_client, scenario, body)
    assert response.status_code == 400
    assert "surrogate" in response.json()["error"]


@pytest.mark.django_db
def test_a_multipart_body_to_the_designer_apply_is_a_400_saying_send_json(
    alice, alice_client
):
    scenario = make_scenario(alice)
    response = alice_client.post(
        reverse("designer_apply", args=[scenario.pk]), {"text": SMALL_DOC}
    )  # the test client's default: multipart/form-data
    assert response.status_code == 400
    assert "application/json" in response.json()["error"]


@pytest.mark.django_db
def test_a_form_body_to_the_designer_apply_is_a_400(alice, alice_client):
    scenario = make_scenario(alice)
    response = _apply(
        alice_client,
        scenario,
        "text=a",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400


@pytest.mark.django_db
def test_a_document_with_a_nul_escape_is_an_inline_error_in_the_designer(
    alice, alice_client
):
    scenario = make_scenario(alice)
    response = _apply(alice_client, scenario, json.dumps({"text": NUL_NAME_DOC}))
    assert response.status_code == 200
    data = response.json()
    assert not data["valid"]
    assert data["errors"][0]["path"] == "name"


@pytest.mark.django_db
def test_a_duplicate_key_is_an_inline_error_in_the_designer(alice, alice_client):
    scenario = make_scenario(alice)
    response = _apply(alice_client, scenario, json.dumps({"text": DUPLICATE_DOC}))
    assert response.status_code == 200
    (error,) = response.json()["errors"]
    assert error["path"] == "workload.rps"
    assert "duplicate key" in error["message"]


# --- generated: any text with NUL or a surrogate, into any field ------------------

_bad_text = st.tuples(
    st.text(max_size=20), st.sampled_from(["\x00", "\ud800", "\udc00"]), st.text()
).map("".join)


@pytest.mark.django_db
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    route=st.sampled_from(SAVING_ROUTES),
    field=st.sampled_from(["document", "message", "layout", "base_version"]),
    text=_bad_text,
)
def test_generated_unstorable_text_in_any_field_is_never_saved(
    alice, alice_client, no_enqueue, route, field, text
):
    scenario = Scenario.objects.filter(owner=alice).first() or make_scenario(alice)
    before = _counts()
    try:
        text.encode("utf-8")
        fields = {"document": SMALL_DOC, field: text}
    except UnicodeEncodeError:
        # A form is UTF-8 on the wire, where a surrogate cannot be: it arrives as a
        # JSON document's escape (json.dumps writes "\ud800").
        fields = {"document": json.dumps({"scaleboard": 1, "name": text})}
    response = alice_client.post(reverse(route, args=[scenario.pk]), fields)
    assert response.status_code == 400
    assert _counts() == before


# --- the server: a request line over its limit --------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def daphne_server(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL"}}
    env.update(
        DJANGO_SETTINGS_MODULE="dashboard.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        SCALEBOARD_VAR_DIR=str(tmp_path / "var"),
        DEBUG="false",
    )
    log = (tmp_path / "daphne.log").open("wb")
    daphne = str(Path(sys.executable).parent / "daphne")
    proc = subprocess.Popen(
        [daphne, "-b", "127.0.0.1", "-p", str(port), "dashboard.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    yield port
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


def _raw_get(port: int, target: str, headers: str = "") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode())
        chunks = []
        while b"\r\n\r\n" not in b"".join(chunks):
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def test_request_lines_over_the_servers_limits_are_closed_or_a_400_never_a_500(
    daphne_server,
):
    # Twisted (under Daphne) reads at most 16 KiB per line: a longer request line
    # is a clean close, with no answer at all.
    assert _raw_get(daphne_server, "/healthz?q=" + "A" * 40_000) == b""
    # Under that, but over its 16 KiB for the request line and headers: a 400.
    big_header = "X-Filler: " + "b" * 9_000 + "\r\n"
    answer = _raw_get(daphne_server, "/healthz?q=" + "A" * 9_000, big_header)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    # A long query string the server takes reaches Django, which answers it.
    answer = _raw_get(daphne_server, "/healthz?q=" + "A" * 15_000)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
