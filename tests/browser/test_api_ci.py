"""The HTTP API against a live server (Daphne with its embedded worker, as `make run`
serves it): the CI example script (examples/ci/scaleboard_gate.py) exits 0 for a
design meeting its objectives and 3 for one missing them; the docs page (Swagger
UI) and the tokens page work in Chromium under the CSP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from dashboard.api.services import token_create
from dashboard.runs.models import Run
from dashboard.scenarios.models import Scenario

ROOT = Path(__file__).resolve().parents[2]
GATE = ROOT / "examples" / "ci" / "scaleboard_gate.py"
DESIGN = ROOT / "examples" / "ci" / "design.yaml"

pytestmark = pytest.mark.browser


def _gate(server, secret: str, *args: str) -> subprocess.CompletedProcess:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DATABASE"))
    }
    env.update(SCALEBOARD_URL=server.url, SCALEBOARD_TOKEN=secret)
    return subprocess.run(
        [sys.executable, str(GATE), "--poll", "0.5", "--timeout", "180", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_the_ci_gate_passes_a_design_that_meets_its_objectives_and_fails_one_that_misses(
    app_server, tmp_path
):
    alice = User.objects.create_user("alice", password="alice-pass-123")
    _token, secret = token_create(user=alice, name="ci")

    passed = _gate(app_server, secret, "--new-scenario", str(DESIGN))
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "ok    latency_ms.p99 <= 250" in passed.stdout
    scenario = Scenario.objects.get(owner=alice)
    run = Run.objects.get(scenario=scenario)
    assert run.status == Run.Status.SUCCEEDED
    assert run.report["objectives"]["met"] is True

    missing = tmp_path / "design.yaml"
    missing.write_text(DESIGN.read_text().replace("p99: 250", "p99: 5"))
    missed = _gate(
        app_server, secret, "--scenario", str(scenario.pk), "--seed", "3", str(missing)
    )
    assert missed.returncode == 3, missed.stdout + missed.stderr
    assert "MISS  latency_ms.p99 <= 5" in missed.stdout
    latest = Run.objects.filter(scenario=scenario).order_by("-created_at").first()
    assert latest.seed == 3 and latest.version.number == 2
    assert latest.report["objectives"]["met"] is False

    broken = tmp_path / "broken.yaml"
    broken.write_text(DESIGN.read_text().replace("instances: 2", "instances: 0"))
    refused = _gate(app_server, secret, "--scenario", str(scenario.pk), str(broken))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "components.web.instances: must be >= 1" in refused.stderr

    wrong = _gate(
        app_server, "sb_" + "x" * 43, "--scenario", str(scenario.pk), str(DESIGN)
    )
    assert wrong.returncode == 1 and "invalid token" in wrong.stderr
    assert Run.objects.filter(scenario=scenario).count() == 2


def test_the_docs_page_shows_every_endpoint_under_the_csp(
    app_server, page, page_errors
):
    page.goto("/api/v1/docs")
    page.wait_for_selector(".opblock")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/v1/runs/{run_id}/snapshots" in [p.replace("\u200b", "") for p in paths]
    schema = page.request.get("/api/v1/openapi.json").json()
    operations = sum(len(methods) for methods in schema["paths"].values())
    assert operations >= 14 and len(paths) == operations  # every endpoint, sweeps too
    assert page.get_by_role("button", name="Authorize").is_visible()
    assert page_errors == []


def test_a_token_made_on_the_tokens_page_works_and_revoked_is_refused(
    app_server, page, page_errors
):
    User.objects.create_user("alice", password="alice-pass-123")
    page.goto("/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-pass-123")
    page.click("button[type=submit]")
    page.get_by_test_id("account-tokens").click()
    page.fill("input[name=name]", "pipeline")
    page.get_by_test_id("token-create").click()
    secret = page.get_by_test_id("token-secret").input_value()
    assert secret.startswith("sb_")
    api = page.context.request
    ok = api.get("/api/v1/scenarios", headers={"Authorization": f"Bearer {secret}"})
    assert ok.status == 200 and ok.json()["count"] == 0
    page.get_by_role("link", name="Revoke token pipeline").click()
    page.get_by_test_id("token-revoke-confirm").click()
    page.wait_for_url("**/account/tokens/")
    assert "revoked" in page.get_by_test_id("token-table").inner_text()
    refused = api.get(
        "/api/v1/scenarios", headers={"Authorization": f"Bearer {secret}"}
    )
    assert refused.status == 401 and refused.json() == {"detail": "token revoked"}
    assert page_errors == []
