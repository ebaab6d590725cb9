"""Reliability row 1: production settings pass `check --deploy` with no warning."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`manage.py check --deploy --fail-level WARNING` with these settings."""
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_production_settings(tmp_path):
    env = {
        **os.environ,
        "DEBUG": "false",
        "HTTPS": "true",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "scaleboard.example.com",
        "SCALEBOARD_VAR_DIR": str(tmp_path),
    }
    result = check_deploy(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_on_development_defaults(tmp_path):
    env = {
        **os.environ,
        "DEBUG": "true",
        "HTTPS": "false",
        "SCALEBOARD_VAR_DIR": str(tmp_path),
    }
    env.pop("SECRET_KEY", None)
    result = check_deploy(env)
    assert result.returncode != 0
    assert "security.W018" in result.stderr + result.stdout  # DEBUG on


def test_check_deploy_fails_without_a_secret_key_in_the_environment(tmp_path):
    """A generated per-machine key breaks sessions across servers: production must
    set SECRET_KEY."""
    env = {
        **os.environ,
        "DEBUG": "false",
        "HTTPS": "true",
        "ALLOWED_HOSTS": "scaleboard.example.com",
        "SCALEBOARD_VAR_DIR": str(tmp_path),
    }
    env.pop("SECRET_KEY", None)
    result = check_deploy(env)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "scaleboard.E001" in output
    assert "SECRET_KEY is not set in the environment" in output
