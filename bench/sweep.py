"""Capacity planning under measurement: a sweep over the workers, and precision.

    .venv/bin/python bench/sweep.py                     # both parts
    .venv/bin/python bench/sweep.py --only workers      # 20 points, 1 vs 2 workers
    .venv/bin/python bench/sweep.py --only precision    # precision vs fixed replications

Prints, in one run:

- **workers**: a 20-point sweep of `workload.rps` (the dashboard's `sweep_create`, every
  point a run) on one `celery worker`, then on two, against PostgreSQL and Redis on
  127.0.0.1 (the stack bench/streaming.py starts); wall time from start to succeeded,
  the ratio (target >= 1.8x), and how many point runs each worker took.
- **precision** (the engine alone): M/M/4 at 80%, the 95% interval of p99 asked
  `within` a share of its mean (`simulation.precision`), against the fixed number of
  replications a user would pick to be safe (20): replications and simulated requests
  each way, and the interval width each reached.

Not part of the tests.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load  # bench/load.py: the stack's environment, the loopback check
import streaming  # bench/streaming.py: the bench user, the workers

ROOT = load.ROOT
WORKERS_TARGET = 1.8
POINTS = 20

SWEEP_DOC = """\
scaleboard: 1
name: Sweep bench
simulation: {duration_s: DURATION, warmup_s: 2, seed: 5, snapshot_s: 5}
workload: {target: lb, rps: 500}
components:
  lb: {type: load_balancer, algorithm: round_robin, targets: [web]}
  web: {type: service, instances: 4, cores: 2, work_ms: {dist: exponential, mean: 4}}
"""

PRECISION_DOC = """\
scaleboard: 1
name: M/M/4 at 80%
simulation: {duration_s: 60, warmup_s: 5, seed: 11, replications: REPS PRECISION}
workload: {target: web, rps: 800}
components:
  web: {type: service, cores: 4, work_ms: {dist: exponential, mean: 4}}
"""


def bench_workers(args, env) -> None:
    from dashboard.celery import app as celery_app
    from dashboard.runs.models import Run
    from dashboard.scenarios.services import scenario_create
    from dashboard.sweeps.models import Sweep
    from dashboard.sweeps.services import sweep_create

    user = streaming._bench_user()
    scenario = scenario_create(
        owner=user, text=SWEEP_DOC.replace("DURATION", str(args.point_sim_s))
    )
    logs = ROOT / "var" / "bench-sweep"
    logs.mkdir(parents=True, exist_ok=True)
    print(
        f"\n== workers: a {POINTS}-point sweep of workload.rps (100..1900), "
        f"{args.point_sim_s} simulated s a point =="
    )
    times = {}
    for count in (1, 2):
        celery_app.control.purge()
        Sweep.objects.filter(owner=user, status__in=Sweep.ACTIVE).update(
            status=Sweep.Status.CANCELLED
        )
        Run.objects.filter(owner=user, status__in=Run.ACTIVE).update(status="cancelled")
        procs = streaming._workers(env, count, logs)
        time.sleep(4)  # the workers are up and listening
        start = time.monotonic()
        sweep = sweep_create(
            owner=user,
            scenario=scenario,
            version=scenario.latest_version,
            kind="sweep",
            vary="workload.rps",
            start=100,
            stop=1900,
            steps=POINTS,
        )
        while Sweep.objects.get(pk=sweep.pk).status in Sweep.ACTIVE:
            if time.monotonic() - start > 900:
                streaming._stop(procs)
                sys.exit("the sweep did not finish in 900 s")
            time.sleep(0.2)  # (the bench shares the two cores with the workers)
        times[count] = time.monotonic() - start
        streaming._stop(procs)
        done = Sweep.objects.get(pk=sweep.pk)
        workers = list(
            Run.objects.filter(sweep_points__sweep=sweep).values_list(
                "worker", flat=True
            )
        )
        by_worker = {w: workers.count(w) for w in sorted(set(workers))}
        print(
            f"{count} worker(s): {done.status} in {times[count]:.2f} s "
            f"({POINTS / times[count]:.2f} points/s); point runs per worker {by_worker}"
        )
    ratio = times[1] / times[2]
    verdict = "meets" if ratio >= WORKERS_TARGET else "MISSES"
    print(f"two workers / one: {ratio:.2f}x ({verdict} the {WORKERS_TARGET}x target)")


def _precision_run(replications: int, precision: str) -> dict:
    import simengine

    text = PRECISION_DOC.replace("REPS", str(replications)).replace(
        "PRECISION", precision
    )
    return simengine.simulate(simengine.parse_document(text))


def _width(report: dict) -> float:
    """The 95% interval's half-width of p99 as a share of its mean (as the engine
    judges ``precision``)."""
    low, high = report["ci95"]["latency_ms.p99"]
    return (high - low) / 2 / report["latency_ms"]["p99"]


def bench_precision(args) -> None:
    fixed = args.fixed_replications
    print(
        f"\n== precision: M/M/4 at 80%, p99's 95% interval, {fixed} fixed "
        "replications against asking for the width ==",
    )
    t0 = time.process_time()
    base = _precision_run(fixed, "")
    base_s = time.process_time() - t0
    per_rep = base["requests"]["offered"]  # a combined report's counts are means
    print(
        f"fixed {fixed}: width {_width(base):.2%} of the mean, "
        f"{fixed * per_rep:,.0f} requests simulated, {base_s:.1f} s CPU"
    )
    for within in args.within:
        precision = (
            f", precision: {{metric: latency_ms.p99, within: {within}, "
            f"max_replications: {fixed * 3}}}"
        )
        t0 = time.process_time()
        report = _precision_run(2, precision)
        cpu = time.process_time() - t0
        reps = report["replications"]
        reached = report.get("precision") or {}
        saved = 1 - reps / fixed
        fixed_meets = "meets" if _width(base) <= within else "misses"
        print(
            f"within {within:.1%}: {reps} replications (reached "
            f"{reached.get('reached', float('nan')):.2%}, "
            f"{'met' if reached.get('met') else 'not met'}), "
            f"{reps * per_rep:,.0f} requests, {cpu:.1f} s CPU; {fixed} fixed "
            f"{fixed_meets} it: {saved:+.0%} requests saved"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="workers,precision")
    parser.add_argument("--fixed-replications", type=int, default=20)
    parser.add_argument("--point-sim-s", type=int, default=300)
    parser.add_argument("--within", type=float, nargs="+", default=[0.05, 0.03, 0.02])
    parser.add_argument(
        "--database-url",
        default="postgres://postgres@127.0.0.1:5432/scaleboard_stream_bench",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    if parts - {"workers", "precision"}:
        sys.exit("--only takes workers, precision")
    if "precision" in parts:
        sys.path.insert(0, str(ROOT))
        bench_precision(args)
    if "workers" in parts:
        load._loopback(args.database_url)
        load._loopback(args.redis_url)
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
        streaming._django(env)
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        bench_workers(args, env)


if __name__ == "__main__":
    main()
