"""Live runs under measurement: snapshot delivery, replications over workers, big pages.

    .venv/bin/python bench/streaming.py                    # all three parts
    .venv/bin/python bench/streaming.py --only delay       # delay, order, gaps
    .venv/bin/python bench/streaming.py --only fanout      # 1 vs 2 workers
    .venv/bin/python bench/streaming.py --only page        # a 10,000-snapshot run page

On 127.0.0.1 only, against PostgreSQL and Redis (the scale-out stack of `make serve`,
started here as bench/load.py starts it). Prints, in one run:

- **delay**: `--viewers` WebSocket viewers (50) watch one run while this process
  publishes `--snapshots` snapshots as a worker does (stored, then sent through the Redis
  channel layer, at RUN_SNAPSHOT_MESSAGES_PER_S); the delay from each send to its
  arrival at each viewer (median, p99, max), and whether every viewer got every
  snapshot in order with no gap (a viewer that sees a gap resyncs from storage, as the
  browser does, and is counted).
- **fanout**: a 10-replication run on one `celery worker`, then on two; wall time from
  queued to succeeded and the ratio (target >= 1.8x), and which worker ran each part.
- **page**: a finished run with 10,000 stored snapshots: the run page's size and time
  (median of 5), the time until a viewer's socket has the first (outline) page and all
  10,000 snapshots, against the size the page had when it inlined them.

Not part of the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load  # bench/load.py: the stack, the login, the loopback check

ROOT = load.ROOT
BIN = load.BIN
FANOUT_TARGET = 1.8

FANOUT_DOC = """\
scaleboard: 1
name: Fan-out bench
simulation: {duration_s: DURATION, warmup_s: 2, seed: 5, snapshot_s: 5, replications: 10}
workload: {target: lb, rps: 1500}
components:
  lb: {type: load_balancer, algorithm: round_robin, targets: [web]}
  web: {type: service, instances: 4, cores: 2, work_ms: {dist: exponential, mean: 4}}
"""

PAGE_DOC = """\
scaleboard: 1
name: Ten thousand snapshots
simulation: {duration_s: 9990, warmup_s: 10, seed: 3, snapshot_s: 1}
workload: {target: lb, rps: 5}
components:
  lb: {type: load_balancer, algorithm: round_robin, targets: [web]}
  web: {type: service, instances: 2, cores: 2, work_ms: {dist: exponential, mean: 10}}
  db: {type: database, primary: {cores: 4, read_ms: 2, write_ms: 4}}
"""


def _django(env: dict) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    django.setup()


def _pct(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _bench_user():
    from django.contrib.auth.models import User

    user, _ = User.objects.get_or_create(username="bench")
    if not user.check_password(load.PASSWORD):
        # (only when it differs: a new hash would end the bench's logged-in session)
        user.set_password(load.PASSWORD)
        user.save()
    return user


# --- delay ------------------------------------------------------------------------------


async def _delay_viewer(ws_url, cookie, origin, expect, deadline, record) -> None:
    """A browser on the run page: live batches; a hole asks for a resync."""
    last = -1
    async with websockets.connect(
        ws_url, origin=origin, additional_headers={"Cookie": cookie}, max_size=None
    ) as ws:
        record["connected"] = True
        while time.monotonic() < deadline:
            try:
                raw = await asyncio.wait_for(ws.recv(), deadline - time.monotonic())
            except TimeoutError:
                break
            now = time.time()
            message = json.loads(raw)
            if message.get("type") == "snapshots":
                for item in message["items"]:
                    seq = item["seq"]
                    if message.get("backlog"):
                        record["resynced"] += seq not in record["seqs"]
                    else:
                        record["delays"].append(now - item["bench_sent"])
                        if seq <= last:
                            record["out_of_order"] += 1
                        elif seq > last + 1:
                            record["gaps"] += 1
                            await ws.send(json.dumps({"type": "resync", "after": last}))
                    record["seqs"].add(seq)
                    last = max(last, seq)
            elif (
                message.get("type") == "status" and message.get("last_seq") is not None
            ):
                missing = set(range(expect)) - record["seqs"]
                if not missing:
                    break
                await ws.send(json.dumps({"type": "resync", "after": min(missing) - 1}))


def _delay_viewers(ws_url, cookie, origin, count, expect, deadline) -> list[dict]:
    async def all_of_them():
        records = [
            {
                "connected": False,
                "seqs": set(),
                "delays": [],
                "gaps": 0,
                "out_of_order": 0,
                "resynced": 0,
            }
            for _ in range(count)
        ]
        outcomes = await asyncio.gather(
            *(
                _delay_viewer(ws_url, cookie, origin, expect, deadline, r)
                for r in records
            ),
            return_exceptions=True,
        )
        for r, outcome in zip(records, outcomes, strict=True):
            r["error"] = repr(outcome) if isinstance(outcome, BaseException) else ""
            r["seqs"] = sorted(r["seqs"])
        return records

    return asyncio.run(all_of_them())


def bench_delay(args, base, cookies) -> None:
    from django.conf import settings

    from dashboard.runs import publish
    from dashboard.runs.models import Run, RunSnapshot
    from dashboard.scenarios.services import scenario_create

    user = _bench_user()
    text = FANOUT_DOC.replace("DURATION", "60").replace(
        "replications: 10", "replications: 1"
    )
    scenario = scenario_create(owner=user, text=text)
    run = Run.objects.create(
        owner=user,
        scenario=scenario,
        name="delay bench",
        document_text=text,
        seed=1,
        status=Run.Status.RUNNING,
    )
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    ws_url = base.replace("http://", "ws://") + f"/ws/runs/{run.pk}/"
    page = httpx.get(f"{base}/runs/{run.pk}/", cookies=cookies)
    if page.status_code != 200:
        sys.exit(f"the run page answered {page.status_code}: {page.text[:300]}")
    n = args.snapshots
    rate = settings.RUN_SNAPSHOT_MESSAGES_PER_S
    deadline = time.monotonic() + 15 + n / rate + 30
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        viewers = pool.submit(
            _delay_viewers, ws_url, cookie, base, args.viewers, n, deadline
        )
        time.sleep(5)  # every viewer connected (each reports whether it was)
        started = time.monotonic()
        for seq in range(n):
            snap = {
                "version": 1,
                "seq": seq,
                "replication": 0,
                "t_s": float(seq + 1),
                "progress": (seq + 1) / n,
                "warmup": False,
            }
            RunSnapshot.objects.create(run_id=run.pk, seq=seq, data=snap)
            publish.publish_snapshots(run.pk, [{**snap, "bench_sent": time.time()}])
            time.sleep(max(0.0, started + (seq + 1) / rate - time.monotonic()))
        Run.objects.filter(pk=run.pk).update(
            status=Run.Status.SUCCEEDED, last_seq=n - 1
        )
        publish.publish_status(run.pk, status=Run.Status.SUCCEEDED, last_seq=n - 1)
        records = viewers.result()
    delays = [d * 1000 for r in records for d in r["delays"]]
    complete = sum(r["seqs"] == list(range(n)) for r in records)
    print(
        f"\n== delay: {args.viewers} viewers, {n} snapshots at {rate}/s, Redis layer =="
    )
    errors = sorted({r["error"] for r in records if r["error"]})
    print(
        f"connected: {sum(r['connected'] for r in records)} of {args.viewers}"
        + (f"; errors: {'; '.join(errors)[:500]}" if errors else "")
    )
    if not delays:
        return
    print(
        f"send -> arrival: median {statistics.median(delays):.1f} ms, "
        f"p99 {_pct(delays, 0.99):.1f} ms, max {max(delays):.1f} ms "
        f"({len(delays)} deliveries live)"
    )
    print(
        f"every snapshot, in order: {complete} of {args.viewers} viewers; "
        f"gaps seen live {sum(r['gaps'] for r in records)}, "
        f"out of order {sum(r['out_of_order'] for r in records)}, "
        f"filled by resync {sum(r['resynced'] for r in records)}"
    )


# --- fanout -----------------------------------------------------------------------------


def _workers(env, count: int, logs: Path) -> list[subprocess.Popen]:
    procs = []
    for i in range(count):
        log = open(logs / f"fanout-worker-{i}.log", "w")  # noqa: SIM115
        procs.append(
            subprocess.Popen(
                [
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
                    "--hostname",
                    f"bench{i}@%h",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    return procs


def _stop(procs) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()


def bench_fanout(args, env) -> None:
    from dashboard.celery import app as celery_app
    from dashboard.runs.models import Run, RunPart
    from dashboard.runs.services import run_create, run_document_parse

    user = _bench_user()
    text = FANOUT_DOC.replace("DURATION", str(args.fanout_sim_s))
    doc = run_document_parse(text=text)
    logs = ROOT / "var" / "bench-streaming"
    logs.mkdir(parents=True, exist_ok=True)
    print(f"\n== fanout: 10 replications of {args.fanout_sim_s} simulated s ==")
    times = {}
    for count in (1, 2):
        celery_app.control.purge()
        Run.objects.filter(owner=user, status__in=Run.ACTIVE).update(status="cancelled")
        procs = _workers(env, count, logs)
        time.sleep(4)  # the workers are up and listening
        run = run_create(owner=user, document=doc, document_text=text)
        start = time.monotonic()
        while Run.objects.get(pk=run.pk).status in Run.ACTIVE:
            if time.monotonic() - start > 600:
                sys.exit("the fan-out run did not finish in 600 s")
            time.sleep(0.05)
        times[count] = time.monotonic() - start
        _stop(procs)
        done = Run.objects.get(pk=run.pk)
        parts = list(RunPart.objects.filter(run=run).values_list("worker", flat=True))
        by_worker = {w: parts.count(w) for w in sorted(set(parts))}
        print(
            f"{count} worker(s): {done.status} in {times[count]:.2f} s "
            f"({10 / times[count]:.2f} replications/s); parts per worker {by_worker}"
            + ("" if parts else " (no parts: this tree runs replications in one task)")
        )
    ratio = times[1] / times[2]
    verdict = "meets" if ratio >= FANOUT_TARGET else "MISSES"
    print(f"two workers / one: {ratio:.2f}x ({verdict} the {FANOUT_TARGET}x target)")


# --- page -------------------------------------------------------------------------------


async def _catch_up(ws_url, cookie, origin, total) -> tuple[float, float, int]:
    """Seconds to the first snapshots page and to all `total`, as run.js asks."""
    start = time.monotonic()
    first = None
    seqs: set[int] = set()
    async with websockets.connect(
        ws_url, origin=origin, additional_headers={"Cookie": cookie}, max_size=None
    ) as ws:
        while len(seqs) < total:
            message = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if message.get("type") != "snapshots":
                continue
            if first is None:
                first = time.monotonic() - start
            seqs.update(item["seq"] for item in message["items"])
            if message.get("more"):
                await ws.send(json.dumps({"type": "page", "after": message["through"]}))
    return first or 0.0, time.monotonic() - start, len(seqs)


def bench_page(args, base, cookies) -> None:
    import simengine
    from dashboard.runs import selectors
    from dashboard.runs.models import Run, RunSnapshot
    from dashboard.scenarios.services import scenario_create

    user = _bench_user()
    doc = simengine.parse_document(PAGE_DOC)
    snaps: list[dict] = []
    report = simengine.simulate(doc, on_snapshot=snaps.append)
    scenario = scenario_create(owner=user, text=PAGE_DOC)
    run = Run.objects.create(
        owner=user,
        scenario=scenario,
        version=scenario.latest_version,
        name="page bench",
        document_text=PAGE_DOC,
        seed=3,
        status=Run.Status.SUCCEEDED,
        report=report,
        last_seq=len(snaps) - 1,
        progress=1.0,
    )
    RunSnapshot.objects.bulk_create(
        [RunSnapshot(run_id=run.pk, seq=s["seq"], data=s) for s in snaps],
        batch_size=1000,
    )
    inlined = len(selectors.run_snapshots_json(run_id=run.pk)[1])
    sizes, times = [], []
    with httpx.Client(base_url=base, cookies=cookies, timeout=60) as client:
        for _ in range(5):
            t0 = time.monotonic()
            response = client.get(f"/runs/{run.pk}/")
            times.append(time.monotonic() - t0)
            sizes.append(len(response.content))
            if response.status_code != 200:
                sys.exit(f"the run page answered {response.status_code}")
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    ws_url = base.replace("http://", "ws://") + f"/ws/runs/{run.pk}/"
    first, full, got = asyncio.run(_catch_up(ws_url, cookie, base, len(snaps)))
    print(f"\n== page: a finished run with {len(snaps)} stored snapshots ==")
    print(
        f"run page: {sizes[-1] / 1024:.0f} KiB in {statistics.median(times) * 1000:.0f} ms "
        f"(median of 5); the snapshots inlined would be {inlined / 1024:.0f} KiB "
        f"({inlined / max(sizes[-1], 1):.0f}x the page)"
    )
    print(
        f"socket: first page after {first * 1000:.0f} ms, all {got} snapshots "
        f"after {full * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="delay,fanout,page")
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--snapshots", type=int, default=300)
    parser.add_argument("--fanout-sim-s", type=int, default=120)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument(
        "--database-url",
        default="postgres://postgres@127.0.0.1:5432/scaleboard_stream_bench",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    if parts - {"delay", "fanout", "page"}:
        sys.exit("--only takes delay, fanout, page")
    if not 1 <= args.viewers <= load.MAX_VIEWERS:
        sys.exit(f"--viewers is 1..{load.MAX_VIEWERS}")
    load._loopback(args.database_url)
    load._loopback(args.redis_url)
    args.server, args.processes, args.worker_nice = "uvicorn", 2, 10
    env = load._env(args)
    subprocess.run(
        [
            "psql",
            args.database_url.rsplit("/", 1)[0] + "/postgres",
            "-qc",
            f"create database {args.database_url.rsplit('/', 1)[1]}",
        ],
        capture_output=True,
    )
    load._manage(env, "migrate", "--noinput")
    _django(env)
    print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
        f"database {args.database_url.rsplit('/', 1)[1]}"
    )
    server = None
    try:
        if parts & {"delay", "page"}:
            log = open(ROOT / "var" / "bench-streaming-server.log", "w")  # noqa: SIM115
            server = subprocess.Popen(
                [*load._server_command(args), "dashboard.asgi:application"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            base = f"http://127.0.0.1:{args.port}"
            asyncio.run(load._wait_up(base))
            _bench_user()
            cookies = asyncio.run(load._login(base))
        if "delay" in parts:
            bench_delay(args, base, cookies)
        if "page" in parts:
            bench_page(args, base, cookies)
        if "fanout" in parts:
            bench_fanout(args, env)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)


if __name__ == "__main__":
    main()
