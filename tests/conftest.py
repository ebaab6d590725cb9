"""Shared fixtures: named users, and the rules for tests that need real services.

Tests that need Redis, PostgreSQL or Chromium skip with a loud reason when those are
absent, except under CI=true, where a missing service fails the test.
"""

from __future__ import annotations

import os
import shutil
import socket
from urllib.parse import urlparse

import pytest

CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
_loud_skips: list[str] = []


def require(ok: bool, reason: str) -> None:
    """Skip (loudly) or, under CI=true, fail when a real service is missing."""
    if ok:
        return
    if CI:
        pytest.fail(f"CI=true needs this, and it is missing: {reason}")
    _loud_skips.append(reason)
    pytest.skip(f"NEEDS A SERVICE: {reason}")


def _tcp_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("REDIS_URL", "")
    parsed = urlparse(url)
    require(
        bool(url) and _tcp_answers(parsed.hostname or "127.0.0.1", parsed.port or 6379),
        "Redis: set REDIS_URL (e.g. redis://127.0.0.1:6379/15) to a running Redis",
    )
    return url


@pytest.fixture
def postgres() -> None:
    from django.db import connection

    require(
        connection.vendor == "postgresql",
        "PostgreSQL: set DATABASE_URL=postgres://... (the test runs on "
        f"{connection.vendor} now)",
    )


@pytest.fixture
def redis_server_binary() -> str:
    """The `redis-server` program, for tests that stop and start a Redis of their own."""
    path = shutil.which("redis-server")
    require(path is not None, "redis-server binary (apt-get install redis-server)")
    return path


@pytest.fixture
def chromium_path() -> str:
    require(
        os.path.exists(CHROMIUM) or shutil.which("chromium") is not None,
        f"Chromium at {CHROMIUM} (apt-get install -y chromium)",
    )
    return CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")


def _user(username: str):
    from django.contrib.auth.models import User

    return User.objects.create_user(username, password=f"{username}-pass-123")


@pytest.fixture
def alice(db):
    return _user("alice")


@pytest.fixture
def bob(db):
    return _user("bob")


@pytest.fixture
def carol(db):
    return _user("carol")


@pytest.fixture
def dave(db):
    return _user("dave")


@pytest.fixture
def mallory(db):
    return _user("mallory")


def pytest_terminal_summary(terminalreporter) -> None:
    if _loud_skips:
        terminalreporter.section(
            "TESTS SKIPPED FOR MISSING SERVICES", sep="!", red=True
        )
        for reason in sorted(set(_loud_skips)):
            terminalreporter.write_line(
                f"  {reason}  ({_loud_skips.count(reason)} tests)"
            )
        terminalreporter.write_line("  Under CI=true these tests run and must pass.")
