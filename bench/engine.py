"""Engine benchmark: the engine against two honest baselines (performance.md).

    .venv/bin/python bench/engine.py            # everything (a few minutes)
    .venv/bin/python bench/engine.py --quick    # smaller counts, one repeat

Prints requests simulated per second for
  * the engine (simengine.run_replication on a format-1 document),
  * idiomatic SimPy: one process per request, ``simpy.Resource`` for cores,
  * a minimal heapq event loop (the pure-Python floor),
on the two reference models (M/M/4 at 80%; Poisson -> balancer -> 3 servers x 4
cores -> database with 8 cores), the same number of completed requests for each,
and the ratios: idiomatic SimPy / engine (target >= 3.5) and engine / heapq (target
<= 2). Then the cost per simulated request at 1, 10 and 100 instances, the peak
memory (RSS of a child process) of a 100k- and a 10M-request run, and the whole
``python -m simengine run`` command path.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

import simpy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import simengine  # noqa: E402

# Reference models -------------------------------------------------------------------
# M/M/4: arrival rate 3.2/s, exponential work mean 1 s per core -> 80% utilization.
MM4 = {"rate": 3.2, "cores": 4, "mean_s": 1.0}
# Network: 900 rps -> round robin over 3 servers x 4 cores (work mean 10 ms: 75%)
# -> database 8 cores (query mean 5 ms: 56%).
NET = {"rate": 900.0, "servers": 3, "cores": 4, "web_s": 0.010, "db_cores": 8,
       "db_s": 0.005}  # fmt: skip


def mm4_document(requests: int) -> simengine.Document:
    duration = requests / MM4["rate"]
    return simengine.parse_document(
        {
            "scaleboard": 1,
            "simulation": {"duration_s": duration, "snapshot_s": duration / 100},
            "workload": {"target": "server", "rps": MM4["rate"], "read_ratio": 1.0},
            "components": {
                "server": {
                    "type": "service",
                    "cores": MM4["cores"],
                    "work_ms": {"mean": MM4["mean_s"] * 1000},
                }
            },
        }
    )


def network_document(
    requests: int, instances: int = NET["servers"], cores: int = NET["cores"]
) -> dict:
    duration = requests / NET["rate"]
    web_capacity = NET["servers"] * NET["cores"]
    return {
        "scaleboard": 1,
        "simulation": {"duration_s": duration, "snapshot_s": duration / 100},
        "workload": {"target": "lb", "rps": NET["rate"], "read_ratio": 1.0},
        "components": {
            "lb": {"type": "load_balancer", "layer": 4, "targets": ["web"]},
            "web": {
                "type": "service",
                "instances": instances,
                "cores": cores,
                # same total capacity whatever the instance count
                "work_ms": {
                    "mean": NET["web_s"] * 1000 * instances * cores / web_capacity
                },
                "calls": ["db"],
            },
            "db": {
                "type": "database",
                "primary": {
                    "cores": NET["db_cores"],
                    "read_ms": {"mean": NET["db_s"] * 1000},
                    "connections": 10_000,
                },
            },
        },
    }


def run_engine(doc: simengine.Document) -> int:
    report = simengine.run_replication(doc, seed=1)
    return report["requests"]["completed"]


# Baseline (a): idiomatic SimPy -------------------------------------------------------
def simpy_mm4(requests: int, seed: int = 1) -> int:
    rnd = random.Random(seed)
    env = simpy.Environment()
    server = simpy.Resource(env, capacity=MM4["cores"])
    latencies: list[float] = []

    def request(env: simpy.Environment):
        t0 = env.now
        with server.request() as req:
            yield req
            yield env.timeout(rnd.expovariate(1 / MM4["mean_s"]))
        latencies.append(env.now - t0)

    def source(env: simpy.Environment):
        while True:
            yield env.timeout(rnd.expovariate(MM4["rate"]))
            env.process(request(env))

    env.process(source(env))
    env.run(until=requests / MM4["rate"])
    return len(latencies)


def simpy_network(requests: int, seed: int = 1) -> int:
    rnd = random.Random(seed)
    env = simpy.Environment()
    servers = [
        simpy.Resource(env, capacity=NET["cores"]) for _ in range(NET["servers"])
    ]
    db = simpy.Resource(env, capacity=NET["db_cores"])
    latencies: list[float] = []
    rr = [0]

    def request(env: simpy.Environment):
        t0 = env.now
        server = servers[rr[0] % len(servers)]
        rr[0] += 1
        with server.request() as req:
            yield req
            yield env.timeout(rnd.expovariate(1 / NET["web_s"]))
        with db.request() as req:
            yield req
            yield env.timeout(rnd.expovariate(1 / NET["db_s"]))
        latencies.append(env.now - t0)

    def source(env: simpy.Environment):
        while True:
            yield env.timeout(rnd.expovariate(NET["rate"]))
            env.process(request(env))

    env.process(source(env))
    env.run(until=requests / NET["rate"])
    return len(latencies)


# Baseline (b): a minimal heapq event loop -------------------------------------------
def heapq_mm4(requests: int, seed: int = 1) -> int:
    rnd = random.Random(seed)
    expo = rnd.expovariate
    rate, cores, mu = MM4["rate"], MM4["cores"], 1 / MM4["mean_s"]
    horizon = requests / rate
    heap: list = [(expo(rate), 0, 0, 0.0)]  # (time, seq, kind, arrival time)
    seq = 1
    busy = 0
    queue: deque[float] = deque()
    done = 0
    total = 0.0
    while heap:
        t, _, kind, t0 = heapq.heappop(heap)
        if t > horizon:
            break
        if kind == 0:  # arrival
            heapq.heappush(heap, (t + expo(rate), seq, 0, 0.0))
            seq += 1
            if busy < cores:
                busy += 1
                heapq.heappush(heap, (t + expo(mu), seq, 1, t))
                seq += 1
            else:
                queue.append(t)
        else:  # departure
            done += 1
            total += t - t0
            if queue:
                heapq.heappush(heap, (t + expo(mu), seq, 1, queue.popleft()))
                seq += 1
            else:
                busy -= 1
    return done


def heapq_network(requests: int, seed: int = 1) -> int:
    rnd = random.Random(seed)
    expo = rnd.expovariate
    rate = NET["rate"]
    n, cores = NET["servers"], NET["cores"]
    mu_web, mu_db, db_cores = 1 / NET["web_s"], 1 / NET["db_s"], NET["db_cores"]
    horizon = requests / rate
    heap: list = [(expo(rate), 0, 0, 0, 0.0)]  # (time, seq, kind, server, t0)
    seq = 1
    busy = [0] * n
    queues = [deque() for _ in range(n)]
    db_busy = 0
    db_queue: deque[float] = deque()
    rr = 0
    done = 0
    total = 0.0
    while heap:
        t, _, kind, s, t0 = heapq.heappop(heap)
        if t > horizon:
            break
        if kind == 0:  # client arrival -> server rr
            heapq.heappush(heap, (t + expo(rate), seq, 0, 0, 0.0))
            seq += 1
            s = rr
            rr = (rr + 1) % n
            if busy[s] < cores:
                busy[s] += 1
                heapq.heappush(heap, (t + expo(mu_web), seq, 1, s, t))
                seq += 1
            else:
                queues[s].append(t)
        elif kind == 1:  # server done -> database
            if queues[s]:
                heapq.heappush(heap, (t + expo(mu_web), seq, 1, s, queues[s].popleft()))
                seq += 1
            else:
                busy[s] -= 1
            if db_busy < db_cores:
                db_busy += 1
                heapq.heappush(heap, (t + expo(mu_db), seq, 2, 0, t0))
                seq += 1
            else:
                db_queue.append(t0)
        else:  # database done -> reply
            done += 1
            total += t - t0
            if db_queue:
                heapq.heappush(heap, (t + expo(mu_db), seq, 2, 0, db_queue.popleft()))
                seq += 1
            else:
                db_busy -= 1
    return done


# Measurements -----------------------------------------------------------------------
def timed(fn, *args) -> tuple[float, int]:
    """CPU seconds of this process (robust on a shared, noisy machine) and result."""
    t0 = time.process_time()
    done = fn(*args)
    return time.process_time() - t0, done


def compare(requests: int, repeats: int) -> dict[str, dict[str, float]]:
    models = {
        "M/M/4 80%": (
            lambda: run_engine(mm4_document(requests)),
            lambda: simpy_mm4(requests),
            lambda: heapq_mm4(requests),
        ),
        "network": (
            lambda: run_engine(simengine.parse_document(network_document(requests))),
            lambda: simpy_network(requests),
            lambda: heapq_network(requests),
        ),
    }
    results: dict[str, dict[str, float]] = {}
    print(f"== {requests:,} requests per model, median of {repeats} ==")
    print(
        f"{'model':<12}{'engine req/s':>14}{'simpy req/s':>14}{'heapq req/s':>14}"
        f"{'simpy/engine':>14}{'engine/heapq':>14}"
    )
    for name, (eng, sp, hq) in models.items():
        rates = {}
        for label, fn in (("engine", eng), ("simpy", sp), ("heapq", hq)):
            runs = [timed(fn) for _ in range(repeats)]
            secs = statistics.median(r[0] for r in runs)
            done = runs[0][1]
            rates[label] = done / secs
            rates[label + "_s"] = secs
            rates[label + "_done"] = done
        speedup = rates["engine"] / rates["simpy"]
        floor = rates["heapq"] / rates["engine"]
        results[name] = {
            **rates,
            "simpy_over_engine": speedup,
            "engine_over_heapq": floor,
        }
        print(
            f"{name:<12}{rates['engine']:>14,.0f}{rates['simpy']:>14,.0f}"
            f"{rates['heapq']:>14,.0f}{speedup:>13.2f}x{floor:>13.2f}x"
        )
    print("targets: simpy/engine >= 3.5x (engine that much faster); engine/heapq <= 2x")
    return results


def scaling(requests: int) -> None:
    print(f"\n== cost per simulated request vs instances ({requests:,} requests) ==")
    base = None
    for instances in (1, 10, 100):
        # the same total work capacity spread over more single-core instances
        doc = simengine.parse_document(
            network_document(requests, instances=instances, cores=1) | {}
        )
        secs, done = timed(run_engine, doc)
        us = secs / done * 1e6
        base = base or us
        print(f"{instances:>4} instances: {us:7.2f} us/request  ({us / base:.2f}x)")
    print("target: 100 instances < 1.5x the cost at 1 instance")


_MEMORY_CHILD = """
import json, resource, sys
sys.path.insert(0, {root!r})
sys.path.insert(0, {bench!r})
import engine as bench, simengine
doc = simengine.parse_document(bench.network_document({n}))
report = simengine.run_replication(doc, seed=1)
rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"completed": report["requests"]["completed"], "rss_kb": rss_kb}}))
"""


def memory(small: int, large: int) -> None:
    print("\n== peak memory (max RSS of a child process), network model ==")
    out = {}
    for n in (small, large):
        code = _MEMORY_CHILD.format(root=str(ROOT), bench=str(ROOT / "bench"), n=n)
        t0 = time.perf_counter()
        res = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        secs = time.perf_counter() - t0
        data = json.loads(res.stdout.strip().splitlines()[-1])
        out[n] = data["rss_kb"]
        print(
            f"{n:>12,} requests: {data['rss_kb'] / 1024:7.1f} MiB "
            f"({data['completed']:,} completed, {secs:.1f} s)"
        )
    print(f"ratio {out[large] / out[small]:.2f}x (target <= 1.2x)")


def command_path(requests: int, repeats: int) -> None:
    print(
        f"\n== the whole `python -m simengine run` path, network, {requests:,} requests =="
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "network.json"
        path.write_text(json.dumps(network_document(requests)))
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        runs = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "simengine", "run", str(path), "--json"],
                check=True, capture_output=True, env=env,
            )  # fmt: skip
            runs.append(time.perf_counter() - t0)
    cmd = statistics.median(runs)
    hq = statistics.median(timed(heapq_network, requests)[0] for _ in range(repeats))
    sp = statistics.median(timed(simpy_network, requests)[0] for _ in range(repeats))
    print(
        f"command {cmd:.2f} s (process start, imports, parse, run, JSON report); "
        f"heapq loop {hq:.2f} s; idiomatic SimPy {sp:.2f} s"
    )
    print(f"command/heapq {cmd / hq:.2f}x   simpy/command {sp / cmd:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-large", type=int, default=10_000_000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--only", choices=["compare", "scaling", "memory", "command"], default=None
    )
    args = parser.parse_args()
    if args.quick:
        args.requests, args.repeats, args.memory_large = 50_000, 1, 1_000_000
    print(f"python {sys.version.split()[0]}, simpy {simpy.__version__}, "
          f"simengine {simengine.__version__}, {os.cpu_count()} cpus")  # fmt: skip
    if args.only in (None, "compare"):
        compare(args.requests, args.repeats)
    if args.only in (None, "scaling"):
        scaling(max(args.requests // 2, 10_000))
    if args.only in (None, "command"):
        command_path(args.requests, args.repeats)
    if args.only in (None, "memory"):
        memory(100_000, args.memory_large)


if __name__ == "__main__":
    main()
