"""Browser fixtures: a real Daphne server on the test database, and system Chromium.

The server is started the way `make run` starts it (Daphne, `EMBEDDED_WORKER=true`, no
`REDIS_URL`: the in-memory channel layer, Celery's memory transport and an in-process
worker thread), but pointed at the database this test process uses. Data must be
committed for that other process to see it, hence `transactional_db`.

Chromium is the system one (`/usr/bin/chromium`); Playwright cannot download browsers
here. Without it these tests skip loudly, and fail under CI=true (`chromium_path`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
ARTIFACTS = BASE_DIR / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
]
SERVER_START_TIMEOUT_S = 45

# Recorded in every page before its own scripts run: each change of #live-info's
# data-count, with the run status shown at that moment. Lets a test tell "the chart
# grew while the run was still running" and "the first count came from the stored
# snapshots" (the socket's catch-up sends those first, before any live one; the page
# itself carries none).
RECORD_COUNTS_JS = """
window.__counts = [];
new MutationObserver((mutations) => {
  for (const m of mutations) {
    const status = document.getElementById("run-status");
    window.__counts.push({
      count: Number(m.target.dataset.count),
      status: status ? status.textContent.trim() : null,
    });
  }
}).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-count"] });
"""


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url(settings_dict: dict) -> str:
    """The URL of the database this test process uses (the test database)."""
    engine = settings_dict["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        name = str(settings_dict["NAME"])
        if name == ":memory:" or name.startswith("file:"):
            pytest.fail("Browser tests need a file-based SQLite test database")
        return f"sqlite:///{Path(name).resolve()}"
    if engine == "django.db.backends.postgresql":
        user = quote(settings_dict.get("USER") or "", safe="")
        password = quote(settings_dict.get("PASSWORD") or "", safe="")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        # A socket directory as host goes in percent-encoded (dj-database-url reads it).
        host = quote(settings_dict.get("HOST") or "127.0.0.1", safe="")
        port = settings_dict.get("PORT") or "5432"
        return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"
    pytest.fail(f"Browser tests do not know how to share a {engine} database")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


class LiveServer:
    """A Daphne subprocess serving the app (with its embedded worker) on 127.0.0.1."""

    def __init__(self, database_url: str, log_path: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
        }
        env.update(
            DJANGO_SETTINGS_MODULE="dashboard.settings",
            DATABASE_URL=database_url,
            DEBUG="false",
            ALLOWED_HOSTS="127.0.0.1,localhost",
            EMBEDDED_WORKER="true",
            PYTHONUNBUFFERED="1",
        )
        daphne = Path(sys.executable).parent / "daphne"
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [
                str(daphne),
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "dashboard.asgi:application",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_until_healthy(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"The server exited with {self.process.returncode}:\n{self.log()}"
                )
            if _healthy(self.url):
                return
            time.sleep(0.2)
        pytest.fail(f"The server did not answer /healthz:\n{self.log()}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


# Django logs a refused permission (PermissionDenied, a 403 by design: a viewer's
# write) with its traceback, on the line after this one.
EXPECTED_TRACEBACK_AFTER = "Forbidden (Permission denied): "


def _unexpected_tracebacks(log: str) -> int:
    lines = log.splitlines()
    return sum(
        1
        for i, line in enumerate(lines)
        if line.startswith("Traceback (most recent call last)")
        and not (i and lines[i - 1].startswith(EXPECTED_TRACEBACK_AFTER))
    )


def _wait_for_other_sessions_to_close(connection, timeout_s: float = 10) -> None:
    """PostgreSQL ends a stopped server's sessions a moment after it exits; dropping
    the test database before then fails ("being accessed by other users").
    """
    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + timeout_s
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.1)


@pytest.fixture
def app_server(transactional_db, request, tmp_path) -> Iterator[LiveServer]:
    """The app as `make run` serves it, on the test database, with the examples."""
    from django.core.management import call_command
    from django.db import connection

    call_command("load_examples", verbosity=0)
    server = LiveServer(
        _database_url(connection.settings_dict), tmp_path / "server.log"
    )
    try:
        server.wait_until_healthy()
        yield server
        log = server.log()
    finally:
        server.stop()
    _wait_for_other_sessions_to_close(connection)
    call = getattr(request.node, "rep_call", None)
    if call is not None and call.failed:
        print(f"\n----- server log ({server.url}) -----\n{server.log()}")
    elif _unexpected_tracebacks(log):
        pytest.fail(f"The server logged an exception during the test:\n{log}")


@pytest.fixture
def browser(chromium_path, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; Django's ORM refuses
    # to run next to one unless told it is safe (it is: nothing else uses the loop).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from django.db import connections
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            # The test's ORM calls ran in Playwright's context, on connections of
            # their own (Django keeps them in context variables): close them here,
            # or PostgreSQL refuses to flush or drop the test database later.
            connections.close_all()
            browser.close()


@pytest.fixture
def page_errors() -> list[str]:
    """Uncaught JavaScript errors and failed requests; tests assert there were none."""
    return []


def _failed_response(response) -> str | None:
    # No favicon is served yet: every page's automatic /favicon.ico request 404s.
    if response.status >= 400 and not response.url.endswith("/favicon.ico"):
        return f"HTTP {response.status} {response.request.method} {response.url}"
    return None


@pytest.fixture
def page(app_server, browser, page_errors, request):
    context = browser.new_context(
        base_url=app_server.url, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(15_000)
    context.add_init_script(RECORD_COUNTS_JS)
    page = context.new_page()
    page.on(
        "pageerror",
        lambda exc: page_errors.append(f"{page.url}: {exc.message}\n{exc.stack or ''}"),
    )
    page.on(
        "console",
        lambda msg: (
            page_errors.append(f"console.error: {msg.text}")
            if msg.type == "error"
            and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on(
        "response",
        lambda response: (
            page_errors.append(failed)
            if (failed := _failed_response(response))
            else None
        ),
    )
    failed_png = ARTIFACTS / f"FAILED-{request.node.name}.png"
    failed_png.unlink(missing_ok=True)  # from an earlier run
    try:
        yield page
    finally:
        call = getattr(request.node, "rep_call", None)
        if call is not None and call.failed:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(failed_png), full_page=True)
        context.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
