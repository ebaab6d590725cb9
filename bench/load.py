"""Load on the web tier in scale-out mode: page clients in flight plus WebSocket viewers.

    .venv/bin/python bench/load.py                       # the serving layout of `make serve`
    .venv/bin/python bench/load.py --server daphne --processes 1   # the old layout
    .venv/bin/python bench/load.py --duration 10 --levels 10,40    # a quick look

Bounded in count and time and on 127.0.0.1 only. It starts the scale-out stack the
README documents (ASGI server processes on one port against PostgreSQL and Redis, a
separate Celery worker), logs in one user, and at each level (10, 40, 200 page clients
in flight) starts a fresh run, then for `--duration` seconds keeps that many page
requests in flight (scenario list, scenario page, run page, round robin) while
`--viewers` WebSocket viewers watch the run and one prober asks `/healthz` every
50 ms. It prints pages/s, p50/p99 per page kind, 5xx count (and 503s among them),
peak database connections (polled from pg_stat_activity), viewers connected (and
within 1 s), and snapshots received per viewer against the run's stored snapshots.

Needs PostgreSQL and Redis on 127.0.0.1 (`--database-url`, `--redis-url`); the
database is migrated and given a `bench` user. Not part of the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import websockets

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent
PASSWORD = "bench-load-password-4711"
MAX_CLIENTS = 400
MAX_VIEWERS = 200
MAX_DURATION_S = 120

RUN_DOC = """\
scaleboard: 1
name: Load bench run
simulation: {duration_s: DURATION, warmup_s: 2, seed: 7, snapshot_s: 1}
workload: {target: lb, rps: 800}
components:
  lb: {type: load_balancer, algorithm: round_robin, targets: [web]}
  web: {type: service, instances: 2, cores: 2, work_ms: {dist: exponential, mean: 10}}
"""

SETUP = """
from django.contrib.auth.models import User
from dashboard.scenarios.services import scenario_create
user, _ = User.objects.get_or_create(username="bench")
user.set_password(PASSWORD)
user.save()
scenario = scenario_create(owner=user, text=DOC)
print("SCENARIO", scenario.pk)
"""

START_RUN = """
from django.contrib.auth.models import User
from dashboard.runs.models import Run
from dashboard.runs.services import run_start
from dashboard.scenarios.models import Scenario
user = User.objects.get(username="bench")
Run.objects.filter(owner=user, status__in=Run.ACTIVE).update(status="cancelled")
scenario = Scenario.objects.get(pk=PK)
run = run_start(owner=user, scenario=scenario, text=DOC)
print("RUN", run.pk)
"""


def _loopback(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"bench/load.py runs against 127.0.0.1 only, not {host}")


def _env(args) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        SECRET_KEY="bench-load-secret-key-not-for-production-0123456789abcdef",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DEBUG="false",
        LOG_LEVEL="WARNING",
    )
    env.pop("EMBEDDED_WORKER", None)
    return env


def _manage(env, *argv: str) -> str:
    out = subprocess.run(
        [PYTHON, "manage.py", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if out.returncode != 0:
        sys.exit(f"manage.py {' '.join(argv[:1])} failed:\n{out.stderr[-2000:]}")
    return out.stdout


def _shell(env, code: str) -> str:
    return _manage(env, "shell", "-c", code)


def _server_command(args) -> list[str]:
    if args.server == "daphne":
        if args.processes != 1:
            sys.exit("daphne serves one process per port here; use --server uvicorn")
        return [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(args.port)]
    return [
        str(BIN / "uvicorn"),
        "--host",
        "127.0.0.1",
        "--port",
        str(args.port),
        "--workers",
        str(args.processes),
        "--no-access-log",
        "--log-level",
        "warning",
        "--timeout-graceful-shutdown",
        "5",
    ]


class Stack:
    """The ASGI server(s) and a Celery worker, stopped on exit."""

    def __init__(self, args, env) -> None:
        self.args, self.env, self.procs = args, env, []
        self.logs = ROOT / "var" / "bench-load"
        self.logs.mkdir(parents=True, exist_ok=True)

    def _spawn(self, name: str, argv: list[str], env: dict) -> None:
        log = open(self.logs / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        self.procs.append((proc, log))

    def start(self) -> None:
        server = [*_server_command(self.args), "dashboard.asgi:application"]
        self._spawn("server", server, self.env)
        worker = [
            *(
                ["nice", "-n", str(self.args.worker_nice)]
                if self.args.worker_nice
                else []
            ),
            str(BIN / "celery"),
            "-A",
            "dashboard",
            "worker",
            "--loglevel",
            "WARNING",
            "--concurrency",
            "1",
            "--without-gossip",
            "--without-mingle",
        ]
        self._spawn("worker", worker, self.env)

    def stop(self) -> None:
        for proc, _log in self.procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        for proc, log in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()

    def worker_health(self) -> str:
        text = (self.logs / "worker.log").read_text(errors="replace")
        alive = all(proc.poll() is None for proc, _log in self.procs)
        return (
            f"reaper failures logged {text.count('Reaping stale runs failed')},"
            f" tracebacks {text.count('Traceback')}; server and worker alive: {alive}"
        )


async def _wait_up(base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{base}/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.3)
    sys.exit("the server did not answer /healthz")


async def _login(base: str) -> dict:
    async with httpx.AsyncClient(base_url=base) as client:
        page = await client.get("/accounts/login/")
        token = page.cookies["csrftoken"]
        done = await client.post(
            "/accounts/login/",
            data={
                "username": "bench",
                "password": PASSWORD,
                "csrfmiddlewaretoken": token,
            },
        )
        if done.status_code != 302:
            sys.exit(f"logging in failed: {done.status_code}")
        return dict(client.cookies)


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


class Level:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = {}
        self.status: dict[int, int] = {}
        self.failures = 0  # no answer at all (connection refused/reset, timeout)
        self.retry_after_missing = 0
        self.peak_db = 0
        self.viewers: list[dict] = []


async def _page_client(client, urls, stop_at, level: Level, offset: int) -> None:
    i = offset
    kinds = list(urls)
    while time.monotonic() < stop_at:
        kind = kinds[i % len(kinds)]
        i += 1
        start = time.monotonic()
        try:
            response = await client.get(urls[kind])
        except httpx.HTTPError:
            level.failures += 1
            await asyncio.sleep(0.05)
            continue
        level.status[response.status_code] = (
            level.status.get(response.status_code, 0) + 1
        )
        if response.status_code == 503 and "retry-after" not in response.headers:
            level.retry_after_missing += 1
        if response.status_code == 200:
            level.latency.setdefault(kind, []).append(time.monotonic() - start)
        elif response.status_code == 503:
            # A client told to come back does so after a moment, not at once.
            await asyncio.sleep(min(1.0, float(response.headers.get("retry-after", 1))))


async def _health_prober(base, stop_at, level: Level) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        while time.monotonic() < stop_at:
            start = time.monotonic()
            try:
                response = await client.get("/healthz")
                if response.status_code == 200:
                    level.latency.setdefault("healthz", []).append(
                        time.monotonic() - start
                    )
                else:
                    level.status[response.status_code] = (
                        level.status.get(response.status_code, 0) + 1
                    )
            except httpx.HTTPError:
                level.failures += 1
            await asyncio.sleep(0.05)


async def _db_poller(dsn, dbname, stop_at, level: Level) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < stop_at:
            cur = await conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                " AND pid <> pg_backend_pid()",
                (dbname,),
            )
            (count,) = await cur.fetchone()
            level.peak_db = max(level.peak_db, count)
            await asyncio.sleep(0.1)


async def _viewer(ws_url, after, origin, cookie, stop_at, level: Level) -> None:
    """A browser on the run page: the page drew the snapshots stored up to `after`,
    the socket brings the rest (`?after=`), live batches, resyncs on a hole."""
    record = {"connected": False, "connect_s": None, "seqs": set(), "after": after}
    ws_url = f"{ws_url}?after={after}"
    level.viewers.append(record)
    start = time.monotonic()
    try:
        async with websockets.connect(
            ws_url,
            origin=origin,
            additional_headers={"Cookie": cookie},
            open_timeout=15,
            max_size=None,
        ) as ws:
            record["connected"] = True
            record["connect_s"] = time.monotonic() - start
            last = after
            while time.monotonic() < stop_at:
                try:
                    raw = await asyncio.wait_for(
                        ws.recv(), timeout=max(0.1, stop_at - time.monotonic())
                    )
                except TimeoutError:
                    break
                message = json.loads(raw)
                if message.get("type") == "snapshots":
                    for item in message["items"]:
                        seq = item["seq"]
                        if seq > last + 1 and not message.get("backlog"):
                            await ws.send(json.dumps({"type": "resync", "after": last}))
                        record["seqs"].add(seq)
                        last = max(last, seq)
                elif message.get("type") == "status":
                    final = message.get("status") not in ("queued", "running")
                    if final and message.get("last_seq") is not None:
                        # The run is over: fill any hole (a live batch lost to a
                        # full channel) before leaving, as the browser does.
                        expected = range(after + 1, message["last_seq"] + 1)
                        missing = set(expected) - record["seqs"]
                        if missing:
                            after = min(missing) - 1
                            await ws.send(
                                json.dumps({"type": "resync", "after": after})
                            )
                            continue
                        break
    except (OSError, TimeoutError, websockets.WebSocketException) as exc:
        record["error"] = type(exc).__name__


def _in_process(coro_fn, *argv) -> Level:
    """One part of the load in a process of its own: the prober's timing must not be
    that of the page clients' busy event loop."""
    level = Level()
    asyncio.run(coro_fn(level, *argv))
    for viewer in level.viewers:
        # What the viewer has: the page's snapshots (up to `after`) and the socket's.
        viewer["received"] = len(viewer["seqs"])
        viewer["seqs"] = viewer["after"] + 1 + len(viewer["seqs"])
    return level


async def _pages(level, base, cookies, urls, clients, stop_at) -> None:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=base, cookies=cookies, limits=limits, timeout=60
    ) as client:
        await asyncio.gather(
            *(_page_client(client, urls, stop_at, level, i) for i in range(clients))
        )


async def _viewers(
    level, ws_url, dsn, run_id, base, cookie, count, start_at, stop_at
) -> None:
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute(
            "SELECT last_seq FROM runs_run WHERE id = %s", (run_id,)
        )
        (after,) = await cur.fetchone()
    await asyncio.gather(
        *(_viewer(ws_url, after, base, cookie, stop_at, level) for _ in range(count))
    )


async def _probe(level, base, dsn, dbname, stop_at, db_stop_at) -> None:
    await asyncio.gather(
        _health_prober(base, stop_at, level),
        _db_poller(dsn, dbname, db_stop_at, level),
    )


def _level(args, base, cookies, scenario_pk, run_id, clients, dbname) -> Level:
    urls = {
        "scenario_list": "/",
        "scenario_page": f"/scenarios/{scenario_pk}/",
        "run_page": f"/runs/{run_id}/",
    }
    now = time.monotonic()
    stop_at = now + args.duration
    viewers_stop_at = stop_at + args.viewer_grace
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    ws_url = base.replace("http://", "ws://") + f"/ws/runs/{run_id}/"
    start_viewers = now + min(2.0, args.duration / 5)  # the pages are busy first
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=3, mp_context=ctx) as pool:
        parts = [
            pool.submit(_in_process, _pages, base, cookies, urls, clients, stop_at),
            pool.submit(
                _in_process,
                _viewers,
                ws_url,
                args.pg_dsn,
                run_id,
                base,
                cookie,
                args.viewers,
                start_viewers,
                viewers_stop_at,
            ),
            pool.submit(
                _in_process,
                _probe,
                base,
                args.pg_dsn,
                dbname,
                stop_at,
                viewers_stop_at,
            ),
        ]
        results = [part.result() for part in parts]
    level = Level()
    for part in results:
        for kind, values in part.latency.items():
            level.latency.setdefault(kind, []).extend(values)
        for code, n in part.status.items():
            level.status[code] = level.status.get(code, 0) + n
        level.failures += part.failures
        level.retry_after_missing += part.retry_after_missing
        level.peak_db = max(level.peak_db, part.peak_db)
        level.viewers.extend(part.viewers)
    return level


def _stored_snapshots(dsn, run_id) -> tuple[int, str]:
    with psycopg.connect(dsn) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM runs_runsnapshot WHERE run_id = %s", (run_id,)
        ).fetchone()
        (status,) = conn.execute(
            "SELECT status FROM runs_run WHERE id = %s", (run_id,)
        ).fetchone()
    return count, status


def _report(clients, level: Level, duration, stored, status) -> None:
    pages = sum(len(v) for k, v in level.latency.items() if k != "healthz")
    answered = sum(level.status.values())
    five = sum(n for code, n in level.status.items() if code >= 500)
    print(f"\n== {clients} page clients in flight, {duration} s ==")
    print(
        f"pages/s {pages / duration:.1f} (200s {pages}, all answers {answered});"
        f" status counts {dict(sorted(level.status.items()))};"
        f" no answer {level.failures}"
    )
    print(
        f"5xx {five} (500: {level.status.get(500, 0)}, 503: {level.status.get(503, 0)},"
        f" 503 without Retry-After: {level.retry_after_missing})"
    )
    for kind, values in sorted(level.latency.items()):
        print(
            f"  {kind:14} n={len(values):5} p50 {_pct(values, 0.5):8.1f} ms"
            f"  p99 {_pct(values, 0.99):8.1f} ms"
        )
    print(f"peak database connections: {level.peak_db}")
    connected = [v for v in level.viewers if v["connected"]]
    fast = [v for v in connected if v["connect_s"] < 1.0]
    times = [v["connect_s"] for v in connected]
    errors = {}
    for v in level.viewers:
        if "error" in v:
            errors[v["error"]] = errors.get(v["error"], 0) + 1
    print(
        f"viewers connected {len(connected)}/{len(level.viewers)}"
        f" (within 1 s: {len(fast)}; connect p50"
        f" {statistics.median(times) * 1000 if times else float('nan'):.0f} ms,"
        f" max {max(times) * 1000 if times else float('nan'):.0f} ms) errors {errors}"
    )
    got = [v["seqs"] for v in connected]
    complete = sum(1 for n in got if n == stored)
    print(
        f"snapshots per viewer: min {min(got) if got else 0}, max {max(got) if got else 0},"
        f" stored {stored} (run {status}); viewers with every snapshot {complete};"
        f" the page had {connected[0]['after'] + 1 if connected else 0}, the socket"
        f" brought {min(v['received'] for v in connected) if connected else 0} or more"
    )


async def main_async(args, stack: Stack | None) -> None:
    base = f"http://127.0.0.1:{args.port}"
    env = _env(args)
    dbname = urlsplit(args.database_url).path.lstrip("/")
    await _wait_up(base)
    out = _shell(
        env,
        SETUP.replace("PASSWORD", repr(PASSWORD)).replace(
            "DOC", repr(RUN_DOC.replace("DURATION", "60"))
        ),
    )
    scenario_pk = int(re.search(r"SCENARIO (\d+)", out).group(1))
    cookies = await _login(base)
    for clients in args.levels:
        doc = RUN_DOC.replace("DURATION", str(args.run_sim_s))
        out = _shell(
            env, START_RUN.replace("PK", str(scenario_pk)).replace("DOC", repr(doc))
        )
        run_id = re.search(r"RUN ([0-9a-f-]+)", out).group(1)
        level = await asyncio.to_thread(
            _level, args, base, cookies, scenario_pk, run_id, clients, dbname
        )
        stored, status = _stored_snapshots(args.pg_dsn, run_id)
        _report(clients, level, args.duration, stored, status)
    if stack is not None:
        print(f"\nworker: {stack.worker_health()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=("uvicorn", "daphne"), default="uvicorn")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--levels", default="10,40,200")
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument(
        "--viewer-grace",
        type=int,
        default=20,
        help="seconds viewers may stay after the pages stop, to see the run end",
    )
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=10,
        help="the worker's niceness, as `make worker` starts it (0: same priority)",
    )
    parser.add_argument(
        "--run-sim-s",
        type=int,
        default=600,
        help="simulated seconds of each level's run (one snapshot each)",
    )
    parser.add_argument(
        "--database-url",
        default="postgres://postgres@127.0.0.1:5432/scaleboard_serve_bench",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5")
    parser.add_argument(
        "--no-start",
        action="store_true",
        help="use the stack already serving on --port",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        help="NAME=VALUE for the server and worker (e.g. DB_POOL_MAX=4)",
    )
    args = parser.parse_args()
    args.levels = [int(n) for n in args.levels.split(",")]
    _loopback(args.database_url)
    _loopback(args.redis_url)
    if max(args.levels) > MAX_CLIENTS or args.viewers > MAX_VIEWERS:
        sys.exit(f"at most {MAX_CLIENTS} page clients and {MAX_VIEWERS} viewers")
    if not 1 <= args.duration <= MAX_DURATION_S:
        sys.exit(f"--duration is 1..{MAX_DURATION_S} seconds")
    url = urlsplit(args.database_url)
    args.pg_dsn = args.database_url
    env = _env(args)
    for pair in args.server_env:
        name, _, value = pair.partition("=")
        env[name] = value
    _manage(env, "migrate", "--noinput")
    stack = None
    if not args.no_start:
        stack = Stack(args, env)
        stack.start()
    print(
        f"server {args.server} x{args.processes} on 127.0.0.1:{args.port},"
        f" database {url.path.lstrip('/')}, levels {args.levels}, {args.viewers} viewers,"
        f" load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    try:
        asyncio.run(main_async(args, stack))
    finally:
        if stack is not None:
            stack.stop()


if __name__ == "__main__":
    main()
