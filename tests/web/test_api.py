"""The HTTP API (/api/v1/, docs/api.md): every endpoint walked with no usable token,
another user's token and a team viewer's; the schema and the docs page; document
errors with their field paths; bad bodies; the per-token rate limit.

Runs are queued without a broker (`no_enqueue`); a verdict is read from a report
the engine really produced for the document.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

import simengine
from dashboard.api import ratelimit
from dashboard.api.models import ApiToken
from dashboard.api.services import token_create, token_revoke
from dashboard.runs.models import Run, RunSnapshot
from dashboard.scenarios.models import Scenario, ScenarioVersion
from dashboard.teams.models import Membership
from tests.web.factories import SMALL_DOC, make_run, make_scenario

pytestmark = pytest.mark.django_db

API = "/api/v1"
CHANGED = SMALL_DOC.replace("rps: 100", "rps: 150")
WITH_OBJECTIVES = (
    SMALL_DOC + "objectives:\n  latency_ms: {p99: 500}\n  error_rate: 0.01\n"
)
MISSING_OBJECTIVES = SMALL_DOC + "objectives:\n  latency_ms: {p99: 1}\n"

#: Every endpoint, by its path in the OpenAPI schema: the method, and the body a
#: write sends. `test_the_schema_lists_exactly_these_endpoints` fails when an
#: endpoint is added without being walked here.
ENDPOINTS = [
    ("get", "/scenarios", None),
    ("post", "/scenarios", {"document": SMALL_DOC}),
    ("get", "/scenarios/{scenario_id}", None),
    ("get", "/scenarios/{scenario_id}/versions", None),
    ("post", "/scenarios/{scenario_id}/versions", {"document": CHANGED}),
    ("get", "/scenarios/{scenario_id}/versions/{number}", None),
    ("post", "/runs", {"scenario": "{scenario_id}", "version": 1}),
    ("get", "/runs/{run_id}", None),
    ("get", "/runs/{run_id}/report", None),
    ("get", "/runs/{run_id}/snapshots", None),
    ("post", "/runs/{run_id}/cancel", None),
]
#: Not about another user's object: a list of one's own, a create of one's own.
OWN = {("get", "/scenarios"), ("post", "/scenarios")}


@pytest.fixture
def no_enqueue(monkeypatch) -> list:
    queued: list = []
    monkeypatch.setattr("dashboard.runs.services._enqueue", queued.append)
    return queued


def bearer(secret: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def secret_of(user, name: str = "ci", **kwargs) -> str:
    return token_create(user=user, name=name, **kwargs)[1]


@pytest.fixture
def alice_api(alice) -> Client:
    return bearer(secret_of(alice))


@pytest.fixture
def objects(alice) -> dict:
    """alice's scenario (one version), a queued run of it with a report stored."""
    scenario = make_scenario(alice)
    run = make_run(alice, scenario, status=Run.Status.SUCCEEDED)
    run.report = simengine.simulate(simengine.parse_document(WITH_OBJECTIVES), seed=1)
    run.save(update_fields=["report"])
    RunSnapshot.objects.create(run=run, seq=0, data={"seq": 0})
    return {"scenario_id": scenario.pk, "number": 1, "run_id": run.pk}


def _fill(template: str, values: dict) -> str:
    return template.format(**values)


def _body(body, values: dict):
    if body is None:
        return None
    return {
        k: (int(_fill(v, values)) if isinstance(v, str) and v.startswith("{") else v)
        for k, v in body.items()
    }


def call(client: Client, method: str, path: str, body=None, values=None):
    url = API + _fill(path, values or {})
    if method == "get":
        return client.get(url)
    data = json.dumps(_body(body, values or {})) if body is not None else ""
    return client.post(url, data, content_type="application/json")


def _rows() -> tuple:
    return (
        User.objects.count(),
        tuple(
            Scenario.objects.values_list("pk", "name", "owner", "team").order_by("pk")
        ),
        ScenarioVersion.objects.count(),
        tuple(Run.objects.values_list("pk", "status").order_by("pk")),
        RunSnapshot.objects.count(),
        Membership.objects.count(),
        tuple(ApiToken.objects.values_list("pk", "revoked_at").order_by("pk")),
    )


# --- Who may call ------------------------------------------------------------------


def test_every_endpoint_answers_401_without_a_usable_token(alice, objects, no_enqueue):
    revoked_secret = secret_of(alice, "revoked")
    token_revoke(token=ApiToken.objects.get(name="revoked"))
    expired_secret = secret_of(
        alice, "expired", expires_at=timezone.now() - timedelta(seconds=1)
    )
    inactive = User.objects.create_user("gone", password="gone-pass-123")
    inactive_secret = secret_of(inactive, "gone")
    inactive.is_active = False
    inactive.save()
    unknown = "sb_" + "A" * 43  # well formed, never issued
    headers = {
        "missing": None,
        "empty": "",
        "basic": "Basic YWxpY2U6YWxpY2UtcGFzcy0xMjM=",
        "no token": "Bearer",
        "malformed": "Bearer not-a-token",
        "too short": "Bearer sb_abc",
        "with a NUL": "Bearer sb_" + "A" * 42 + "\x00",
        "unknown": f"Bearer {unknown}",
        "revoked": f"Bearer {revoked_secret}",
        "expired": f"Bearer {expired_secret}",
        "inactive user": f"Bearer {inactive_secret}",
    }
    before = _rows()
    for label, header in headers.items():
        client = Client() if header is None else Client(HTTP_AUTHORIZATION=header)
        for method, path, body in ENDPOINTS:
            response = call(client, method, path, body, objects)
            assert response.status_code == 401, (label, method, path, response)
            assert response["Content-Type"].startswith("application/json")
            assert response.json()["detail"], (label, path)
            assert response["WWW-Authenticate"].startswith("Bearer")
    assert _rows() == before
    details = {
        label: Client(HTTP_AUTHORIZATION=h).get(API + "/scenarios").json()["detail"]
        for label, h in headers.items()
        if h is not None
    }
    assert "revoked" in details["revoked"]
    assert "expired" in details["expired"]
    assert "malformed" in details["malformed"]


def test_a_session_login_alone_does_not_sign_api_requests_in(alice_client, objects):
    for method, path, body in ENDPOINTS:
        response = call(alice_client, method, path, body, objects)
        assert response.status_code == 401, (method, path)


def test_another_users_token_gets_404_on_every_endpoint_and_nothing_changes(
    objects, mallory, no_enqueue
):
    client = bearer(secret_of(mallory))
    before = _rows()
    for method, path, body in ENDPOINTS:
        if (method, path) in OWN:
            continue
        response = call(client, method, path, body, objects)
        assert response.status_code == 404, (method, path, response.content)
        assert set(response.json()) == {"detail"}
    assert _rows() == before
    listed = client.get(API + "/scenarios").json()
    assert listed["count"] == 0 and listed["items"] == []


def test_a_team_viewers_token_reads_and_every_write_is_403(
    team, team_scenario, dave, carol, mallory, no_enqueue
):
    run = team_scenario.runs.get()
    values = {"scenario_id": team_scenario.pk, "number": 1, "run_id": run.pk}
    viewer = bearer(secret_of(dave))
    stranger = bearer(secret_of(mallory))
    before = _rows()
    for method, path, body in ENDPOINTS:
        if (method, path) in OWN:
            continue
        response = call(viewer, method, path, body, values)
        if method == "get":
            expected = 404 if path.endswith("/report") else 200  # no report yet
            assert response.status_code == expected, (path, response.content)
        else:
            assert response.status_code == 403, (path, response.content)
            assert response.json()["detail"]
    listed = viewer.get(API + "/scenarios").json()["items"]
    assert [(s["id"], s["permissions"]) for s in listed] == [
        (team_scenario.pk, ["view"])
    ]
    assert listed[0]["latest_version"] == 1 and listed[0]["owner"] is None
    create = {"document": SMALL_DOC, "team": team.pk}
    response = viewer.post(API + "/scenarios", create, content_type="application/json")
    assert response.status_code == 403
    response = stranger.post(
        API + "/scenarios", create, content_type="application/json"
    )
    assert response.status_code == 404  # the team is not revealed
    assert _rows() == before

    editor = bearer(secret_of(carol))
    response = editor.post(API + "/scenarios", create, content_type="application/json")
    assert response.status_code == 201
    assert response.json()["team"] == {"id": team.pk, "name": "Platform"}
    assert Scenario.objects.get(pk=response.json()["id"]).team == team
    response = call(
        editor, "post", "/runs", {"scenario": "{scenario_id}", "version": 1}, values
    )
    assert response.status_code == 201


def test_a_revoked_token_is_refused_from_its_next_request(alice, objects):
    secret = secret_of(alice)
    client = bearer(secret)
    assert client.get(API + "/scenarios").status_code == 200
    token_revoke(token=ApiToken.objects.get(user=alice))
    response = client.get(API + "/scenarios")
    assert response.status_code == 401
    assert response.json() == {"detail": "token revoked"}


# --- The schema and the docs page --------------------------------------------------


def test_the_schema_lists_exactly_these_endpoints(client):
    response = client.get(API + "/openapi.json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    listed = {
        (method, path.removeprefix(API))
        for path, operations in schema["paths"].items()
        for method in operations
    }
    assert listed == {(m, p) for m, p, _ in ENDPOINTS}
    schemes = schema["components"]["securitySchemes"]
    assert any(s == {"type": "http", "scheme": "bearer"} for s in schemes.values())
    # Every operation documents its errors with the one error shape.
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            assert "401" in op["responses"] and "404" in op["responses"], (method, path)


def test_the_docs_page_renders_swagger_from_our_static_files_under_the_csp(client):
    response = client.get(API + "/docs")
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]*)", policy).group(1)
    assert script_src.strip() == "'self'", policy
    html = response.content.decode()
    tags = re.findall(r"<script\b[^>]*>", html)
    assert tags, html
    for tag in tags:
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert not re.search(r"\son[a-z]+\s*=", html)
    assert "cdn" not in html.lower()
    settings_json = re.search(
        r'<script id="swagger-settings" type="application/json">(.*?)</script>',
        html,
        re.S,
    ).group(1)
    assert json.loads(settings_json)["url"] == API + "/openapi.json"
    for src in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        assert client.get(src).status_code == 200, src


def test_unknown_paths_under_the_api_are_json_404s(alice_api):
    response = alice_api.post(
        API + "/nothing/here", "{}", content_type="application/json"
    )
    assert response.status_code == 404
    assert response.json()["detail"].startswith("no such endpoint")


# --- Scenarios and versions --------------------------------------------------------


def test_create_a_scenario_with_a_name_written_into_its_document(alice, alice_api):
    response = alice_api.post(
        API + "/scenarios",
        {"document": SMALL_DOC, "name": "Checkout tier"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "Checkout tier" and body["latest_version"] == 1
    assert body["owner"] == "alice" and body["team"] is None
    assert body["permissions"] == ["edit", "manage", "view"]
    version = ScenarioVersion.objects.get(scenario_id=body["id"])
    assert "name: Checkout tier" in version.document_text
    assert version.message == "Created via the API" and version.author == alice


def test_the_scenario_list_pages_with_limit_and_offset(alice, alice_api):
    made = [make_scenario(alice).pk for _ in range(3)]
    first = alice_api.get(API + "/scenarios?limit=2").json()
    second = alice_api.get(API + "/scenarios?limit=2&offset=2").json()
    assert first["count"] == second["count"] == 3
    assert len(first["items"]) == 2 and len(second["items"]) == 1
    ids = [s["id"] for s in first["items"] + second["items"]]
    assert sorted(ids) == sorted(made)
    for bad in ("limit=0", "limit=201", "offset=-1", "limit=ten"):
        response = alice_api.get(API + "/scenarios?" + bad)
        assert response.status_code == 400, bad
        assert response.json()["errors"][0]["path"] == bad.split("=")[0]


def test_a_version_reads_with_its_text_and_parsed_summary(alice, alice_api):
    scenario = make_scenario(alice, text=WITH_OBJECTIVES)
    response = alice_api.get(f"{API}/scenarios/{scenario.pk}/versions/1")
    assert response.status_code == 200
    body = response.json()
    assert body["document"] == WITH_OBJECTIVES and body["errors"] == []
    summary = body["summary"]
    assert summary["components"] == {"lb": "load_balancer", "web": "service"}
    assert summary["workload"] == {"target": "lb", "rps": 100.0}
    assert summary["simulation"]["duration_s"] == 20
    assert summary["objectives"] == {"latency_ms": {"p99": 500.0}, "error_rate": 0.01}
    assert alice_api.get(f"{API}/scenarios/{scenario.pk}/versions/9").status_code == 404
    listing = alice_api.get(f"{API}/scenarios/{scenario.pk}/versions").json()
    assert [v["number"] for v in listing["items"]] == [1]


def test_document_errors_come_back_with_their_field_paths_and_nothing_is_saved(
    alice, alice_api
):
    scenario = make_scenario(alice)
    before = _rows()
    bad = SMALL_DOC.replace("instances: 2", "instances: 0")
    for url, body in (
        (f"{API}/scenarios", {"document": bad}),
        (f"{API}/scenarios/{scenario.pk}/versions", {"document": bad}),
        (f"{API}/runs", {"scenario": scenario.pk, "document": bad}),
    ):
        response = alice_api.post(url, body, content_type="application/json")
        assert response.status_code == 400, url
        assert response.json() == {
            "detail": "invalid document",
            "errors": [
                {"path": "components.web.instances", "message": "must be >= 1 (got 0)"}
            ],
        }
    assert _rows() == before


def test_a_save_overtaken_by_another_is_a_409_with_the_latest_version(alice, alice_api):
    scenario = make_scenario(alice)
    url = f"{API}/scenarios/{scenario.pk}/versions"
    first = alice_api.post(
        url, {"document": CHANGED, "base_version": 1}, content_type="application/json"
    )
    assert first.status_code == 201 and first.json()["number"] == 2
    late = alice_api.post(
        url,
        {"document": SMALL_DOC, "base_version": 1, "message": "late"},
        content_type="application/json",
    )
    assert late.status_code == 409
    assert late.json()["latest_version"] == 2
    assert scenario.versions.count() == 2


# --- Runs --------------------------------------------------------------------------


def test_run_a_version_with_a_seed_and_a_pace(
    alice, alice_api, no_enqueue, django_capture_on_commit_callbacks
):
    scenario = make_scenario(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_api.post(
            API + "/runs",
            {"scenario": scenario.pk, "version": 1, "seed": 99, "pace": 5},
            content_type="application/json",
        )
    assert response.status_code == 201, response.content
    body = response.json()
    run = Run.objects.get(pk=body["id"])
    assert (run.seed, run.pace, run.version.number) == (99, 5.0, 1)
    assert body["status"] == "queued" and body["verdict"] is None
    assert body["url"].endswith(f"/runs/{run.pk}/")
    assert no_enqueue == [run.pk]
    assert scenario.versions.count() == 1  # nothing saved


def test_run_a_document_saves_it_first_as_the_editors_run_does(
    alice, alice_api, no_enqueue
):
    scenario = make_scenario(alice)
    post = {"scenario": scenario.pk, "document": CHANGED, "message": "CI abc123"}
    first = alice_api.post(API + "/runs", post, content_type="application/json")
    assert first.status_code == 201 and first.json()["version"] == 2
    again = alice_api.post(API + "/runs", post, content_type="application/json")
    assert again.status_code == 201 and again.json()["version"] == 2  # unchanged
    version = scenario.versions.get(number=2)
    assert version.message == "CI abc123" and version.document_text == CHANGED
    stale = alice_api.post(
        API + "/runs",
        {"scenario": scenario.pk, "document": SMALL_DOC, "base_version": 1},
        content_type="application/json",
    )
    assert stale.status_code == 409 and stale.json()["latest_version"] == 2
    assert Run.objects.count() == 2


def test_run_requests_that_cannot_be_taken_name_the_field(alice, alice_api, no_enqueue):
    scenario = make_scenario(alice)
    before = _rows()
    cases = {
        "version": {"scenario": scenario.pk},
        "seed": {"scenario": scenario.pk, "version": 1, "seed": -1},
        "pace": {"scenario": scenario.pk, "version": 1, "pace": 0},
        "scenario": {"version": 1},
        "document": {"scenario": scenario.pk, "document": 5},
        "extra": {"scenario": scenario.pk, "version": 1, "extra": True},
    }
    for field, body in cases.items():
        response = alice_api.post(API + "/runs", body, content_type="application/json")
        assert response.status_code == 400, (field, response.content)
        assert response.json()["errors"][0]["path"] == field, response.content
    both = {"scenario": scenario.pk, "version": 1, "document": SMALL_DOC}
    response = alice_api.post(API + "/runs", both, content_type="application/json")
    assert response.status_code == 400
    missing = {"scenario": scenario.pk, "version": 7}
    response = alice_api.post(API + "/runs", missing, content_type="application/json")
    assert response.status_code == 404
    assert _rows() == before


def test_the_run_limit_is_a_429(alice, alice_api, settings, no_enqueue):
    settings.RUNS_ACTIVE_PER_USER = 1
    scenario = make_scenario(alice)
    body = {"scenario": scenario.pk, "version": 1}
    assert (
        alice_api.post(API + "/runs", body, content_type="application/json").status_code
        == 201
    )
    response = alice_api.post(API + "/runs", body, content_type="application/json")
    assert response.status_code == 429
    assert "1 runs queued or running" in response.json()["detail"]
    assert Run.objects.count() == 1


def test_a_finished_run_has_a_verdict_and_its_report(alice_api, objects):
    run = Run.objects.get(pk=objects["run_id"])
    body = alice_api.get(f"{API}/runs/{run.pk}").json()
    verdict = body["verdict"]
    assert verdict["objectives_met"] is run.report["objectives"]["met"] is True
    assert verdict["checks"] == run.report["objectives"]["checks"]
    requests = run.report["requests"]
    failed = requests["errors"] + requests["timeouts"] + requests["rejected"]
    assert verdict["error_rate"] == pytest.approx(failed / requests["offered"])
    assert verdict["latency_ms"]["p99"] == run.report["latency_ms"]["p99"]
    assert verdict["objectives"] == {"met": 2, "total": 2}
    assert verdict["label"] == "succeeded \u00b7 objectives 2 of 2 met"
    assert verdict["level"] == "ok" and verdict["degraded"] is False
    assert body["report_url"].endswith(f"{API}/runs/{run.pk}/report")
    report = alice_api.get(f"{API}/runs/{run.pk}/report")
    assert report.status_code == 200 and report.json() == run.report


def test_a_missed_objective_reads_as_not_met(alice, alice_api):
    scenario = make_scenario(alice)
    run = make_run(alice, scenario, status=Run.Status.SUCCEEDED)
    run.report = simengine.simulate(simengine.parse_document(MISSING_OBJECTIVES))
    run.save(update_fields=["report"])
    verdict = alice_api.get(f"{API}/runs/{run.pk}").json()["verdict"]
    assert verdict["objectives_met"] is False
    assert [c["met"] for c in verdict["checks"]] == [False]
    assert verdict["objectives"] == {"met": 0, "total": 1}
    assert verdict["level"] == "warn"


def test_no_verdict_while_a_run_is_active_and_none_without_objectives(alice, alice_api):
    scenario = make_scenario(alice)
    running = make_run(alice, scenario, status=Run.Status.RUNNING)
    assert alice_api.get(f"{API}/runs/{running.pk}").json()["verdict"] is None
    done = make_run(alice, scenario, status=Run.Status.SUCCEEDED)
    done.report = simengine.simulate(simengine.parse_document(SMALL_DOC))
    done.save(update_fields=["report"])
    verdict = alice_api.get(f"{API}/runs/{done.pk}").json()["verdict"]
    assert verdict["objectives_met"] is None and verdict["objectives"] is None
    assert verdict["checks"] == [] and verdict["label"] == "succeeded"


def test_snapshots_page_from_storage(alice, alice_api):
    run = make_run(alice, make_scenario(alice), status=Run.Status.RUNNING)
    for seq in range(7):
        RunSnapshot.objects.create(run=run, seq=seq, data={"seq": seq, "t": seq})
    url = f"{API}/runs/{run.pk}/snapshots"
    first = alice_api.get(url + "?limit=3").json()
    assert [s["seq"] for s in first["items"]] == [0, 1, 2]
    assert first["more"] is True and first["next_after"] == 2
    assert first["status"] == "running"
    rest = alice_api.get(url + "?after=2&limit=500").json()
    assert [s["seq"] for s in rest["items"]] == [3, 4, 5, 6]
    assert rest["more"] is False and rest["next_after"] == 6
    empty = alice_api.get(url + "?after=6").json()
    assert empty["items"] == [] and empty["next_after"] == 6
    for bad in ("limit=501", "limit=0", "after=-2", "after=x"):
        response = alice_api.get(url + "?" + bad)
        assert response.status_code == 400, bad


def test_cancel_a_run_once(alice, alice_api):
    run = make_run(alice, make_scenario(alice))
    first = alice_api.post(f"{API}/runs/{run.pk}/cancel")
    assert first.status_code == 200
    assert first.json()["cancelled"] is True
    assert first.json()["run"]["status"] == "cancelled"
    again = alice_api.post(f"{API}/runs/{run.pk}/cancel").json()
    assert again["cancelled"] is False


def test_a_malformed_run_id_is_a_400_naming_it(alice_api):
    response = alice_api.get(f"{API}/runs/not-a-uuid")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "run_id"


# --- Bodies that cannot be taken ---------------------------------------------------


def test_nul_bytes_and_lone_surrogates_are_400s_naming_the_field(alice, alice_api):
    scenario = make_scenario(alice)
    before = _rows()
    url = f"{API}/scenarios/{scenario.pk}/versions"
    cases = {
        "document": '{"document": "scaleboard: 1\\u0000"}',
        "message": '{"document": "x", "message": "bad \\ud800 text"}',
        "name": '{"document": "x", "name": "\\udfff"}',
    }
    for field, raw in cases.items():
        target = f"{API}/scenarios" if field == "name" else url
        response = alice_api.post(target, raw, content_type="application/json")
        assert response.status_code == 400, (field, response.content)
        assert response.json()["errors"][0]["path"] == field
        assert (
            "NUL" in response.json()["detail"]
            or "surrogate" in response.json()["detail"]
        )
    key = alice_api.post(
        url, '{"document": "x", "a\\u0000": 1}', content_type="application/json"
    )
    assert key.status_code == 400 and "NUL" in key.json()["detail"]
    query = alice_api.get(API + "/scenarios?limit=5&q=%00")
    assert query.status_code == 400 and query.json()["errors"][0]["path"] == "q"
    assert _rows() == before


def test_bodies_that_are_not_a_json_object_are_400s(alice, alice_api):
    scenario = make_scenario(alice)
    url = f"{API}/scenarios/{scenario.pk}/versions"
    before = _rows()
    for raw in (
        b"not json",
        b"[1, 2]",
        b'"a string"',
        b'{"document": "x", "base_version": Infinity}',
        b'{"document": "\xff\xfe"}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a": ' * 5000 + b"1" + b"}" * 5000,
    ):
        response = alice_api.post(url, raw, content_type="application/json")
        assert response.status_code == 400, (raw[:40], response.content)
        assert response.json()["errors"][0]["path"] == "body"
    assert _rows() == before


def test_a_huge_body_is_a_413_and_a_huge_document_a_400(alice, alice_api, settings):
    scenario = make_scenario(alice)
    url = f"{API}/scenarios/{scenario.pk}/versions"
    huge = json.dumps({"document": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)})
    response = alice_api.post(url, huge, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["detail"].startswith("body:")
    big = "scaleboard: 1\n# " + "x" * 1_100_000 + "\n"
    response = alice_api.post(url, {"document": big}, content_type="application/json")
    assert response.status_code == 400
    assert "over the limit" in response.json()["errors"][0]["message"]
    assert scenario.versions.count() == 1


# --- The rate limit ----------------------------------------------------------------


@pytest.fixture
def frozen_clock(monkeypatch) -> list[float]:
    """The rate limit's clock, fixed in the middle of a minute (moved by tests)."""
    now = [60.0 * 29_000_000 + 30.0]
    monkeypatch.setattr(ratelimit, "_now", lambda: now[0])
    return now


def test_the_121st_request_in_a_minute_is_429_with_retry_after(alice, frozen_clock):
    client = bearer(secret_of(alice))
    for i in range(120):
        assert client.get(API + "/scenarios").status_code == 200, i
    response = client.get(API + "/scenarios")
    assert response.status_code == 429
    assert response["Retry-After"] == "30"  # the window ends in 30 s
    assert "120 requests a minute" in response.json()["detail"]


def test_tokens_are_limited_independently_and_the_window_resets(
    alice, settings, frozen_clock
):
    settings.API_RATE_PER_MINUTE = 3
    first, second = bearer(secret_of(alice, "a")), bearer(secret_of(alice, "b"))
    assert [first.get(API + "/scenarios").status_code for _ in range(4)] == [
        200,
        200,
        200,
        429,
    ]
    assert second.get(API + "/scenarios").status_code == 200
    frozen_clock[0] += 29.5
    limited = first.get(API + "/scenarios")
    assert limited.status_code == 429 and limited["Retry-After"] == "1"
    frozen_clock[0] += 1
    assert first.get(API + "/scenarios").status_code == 200  # a new minute


def test_a_cache_that_fails_lets_requests_through(alice, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(ratelimit.cache, "add", down)
    assert bearer(secret_of(alice)).get(API + "/scenarios").status_code == 200


def test_last_used_is_written_at_most_once_a_minute(alice):
    secret = secret_of(alice)
    client = bearer(secret)
    token = ApiToken.objects.get(user=alice)
    assert token.last_used_at is None
    client.get(API + "/scenarios")
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    client.get(API + "/scenarios")
    token.refresh_from_db()
    assert token.last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(
        last_used_at=first - timedelta(minutes=2)
    )
    client.get(API + "/scenarios")
    token.refresh_from_db()
    assert token.last_used_at > first - timedelta(minutes=1)


def test_api_answers_are_never_cached(alice_api):
    response = alice_api.get(API + "/scenarios")
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]


def test_ids_and_numbers_beyond_the_database_are_400s_naming_them(alice, alice_api):
    scenario = make_scenario(alice)
    big = 2**70
    cases = [
        ("get", f"/scenarios/{big}", None, "scenario_id"),
        ("get", f"/scenarios/{scenario.pk}/versions/{big}", None, "number"),
        ("get", f"/scenarios/{scenario.pk}/versions/0", None, "number"),
        ("get", f"/scenarios?offset={big}", None, "offset"),
        ("post", "/runs", {"scenario": big, "version": 1}, "scenario"),
        ("post", "/runs", {"scenario": scenario.pk, "version": 2**31}, "version"),
        (
            "post",
            "/runs",
            {"scenario": scenario.pk, "version": 1, "seed": 2**63},
            "seed",
        ),
        (
            "post",
            f"/scenarios/{scenario.pk}/versions",
            {"document": "x", "base_version": big},
            "base_version",
        ),
        ("post", "/scenarios", {"document": SMALL_DOC, "team": big}, "team"),
    ]
    before = _rows()
    for method, path, body, field in cases:
        response = call(alice_api, method, path, body)
        assert response.status_code == 400, (path, body, response.content)
        assert response.json()["errors"][0]["path"] == field, response.content
    assert _rows() == before


def test_a_method_a_path_does_not_take_and_the_bare_root_answer_json(alice_api):
    for method, path in (
        ("delete", "/scenarios"),
        ("put", "/runs"),
        ("head", "/scenarios"),
    ):
        response = getattr(alice_api, method)(API + path)
        assert response.status_code == 405, (method, path)
        assert response["Content-Type"].startswith("application/json")
        assert "GET" in response["Allow"] or "POST" in response["Allow"]
    root = alice_api.get(API + "/")
    assert root.status_code == 404 and root.json()["detail"].startswith("no such")
