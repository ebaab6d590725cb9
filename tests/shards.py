"""Run the web, service and browser tests in three shards at once (`make test`).

Most of these tests wait (on real workers, a browser, a socket), so three processes on
two cores finish in about half the time of one. Each shard has its own test database
(the database name, or the SQLite test file, gets a suffix) and its own Redis database
number, so real workers, queues and channel groups of one shard never meet another's.

    python tests/shards.py [pytest args...]

Every shard's output is printed when it ends; the exit status is the first failing
shard's (0 when all pass). The engine's tests run before, on two processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]

#: The tests that start real Celery workers against Redis, and others of about their
#: weight, in one shard; every other web test in the next; the browser tests in the last
#: (but for BROWSER_IN_WORKERS).
WORKERS = [
    "tests/web/test_fanout.py",
    "tests/web/test_sweep_workers.py",
    "tests/web/test_worker.py",
    "tests/web/test_whatif_worker.py",
    "tests/web/test_redis_outage.py",
    "tests/web/test_fanout_service.py",
    "tests/web/test_sweep_service.py",
    "tests/web/test_run_races.py",
    "tests/web/test_version_races.py",
    "tests/web/test_api_races.py",
    "tests/web/test_serving.py",
]
#: The two longest browser files run in the workers shard, so that the three shards
#: end at about the same time (the browser shard was the longest by minutes).
BROWSER_IN_WORKERS = [
    "tests/browser/test_run_live.py",
    "tests/browser/test_sweep_capacity.py",
]
SHARDS = {
    "workers": [*WORKERS, *BROWSER_IN_WORKERS],
    "web": ["tests/web", *(f"--ignore={path}" for path in WORKERS)],
    "browser": ["tests/browser", *(f"--ignore={p}" for p in BROWSER_IN_WORKERS)],
}


def _database_url(url: str, suffix: str) -> str:
    """The same server, another database: `.../scaleboard_ci` -> `..._ci_web`."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path + "_" + suffix))


def _redis_url(url: str, offset: int) -> str:
    """The same Redis, another database number (counting down from the given one)."""
    parts = urlsplit(url)
    number = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(number - offset) % 16}"))


def shard_env(name: str, index: int) -> dict[str, str]:
    env = dict(os.environ)
    env["SCALEBOARD_TEST_SHARD"] = name  # the SQLite test file's suffix (settings)
    if env.get("DATABASE_URL"):
        env["DATABASE_URL"] = _database_url(env["DATABASE_URL"], name)
    if env.get("REDIS_URL"):
        env["REDIS_URL"] = _redis_url(env["REDIS_URL"], index)
    return env


def main(argv: list[str]) -> int:
    logs = ROOT / "var" / "test-shards"
    logs.mkdir(parents=True, exist_ok=True)
    running = []
    for index, (name, paths) in enumerate(SHARDS.items()):
        log = open(logs / f"{name}.log", "w")  # noqa: SIM115 (closed below)
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", *paths, *argv],
            cwd=ROOT,
            env=shard_env(name, index),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        running.append((name, proc, log, time.monotonic()))
    status = 0
    for name, proc, log, started in running:
        code = proc.wait()
        log.close()
        print(
            f"\n===== shard {name}: exit {code} after {time.monotonic() - started:.0f} s"
        )
        print((logs / f"{name}.log").read_text(errors="replace"), end="")
        if code and not status:
            status = code
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
