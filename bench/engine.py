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
memory (RSS of a child process) of a 100k- and a 10M-request run, the cost per
simulated request of the full data tier (balancer -> web -> cache -> sharded database
with replicas) at 1 and 32 shards and at 10k and 10M keys, and the whole
``python -m simengine run`` command path.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import simpy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from baselines import MM4, NET, heapq_mm4, heapq_network, simpy_mm4, simpy_network  # noqa: E402

import simengine  # noqa: E402


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
    print(f"== {requests:,} requests per model, best of {repeats} (CPU time) ==")
    print(
        f"{'model':<12}{'engine req/s':>14}{'simpy req/s':>14}{'heapq req/s':>14}"
        f"{'simpy/engine':>14}{'engine/heapq':>14}"
    )
    for name, (eng, sp, hq) in models.items():
        rates = {}
        for label, fn in (("engine", eng), ("simpy", sp), ("heapq", hq)):
            runs = [timed(fn) for _ in range(repeats)]
            secs = min(r[0] for r in runs)
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


def datatier_document(requests: int, shards: int, keys: int) -> simengine.Document:
    """The full data tier: balancer -> 3 web servers -> cache -> sharded database.

    Every shard a primary with two async replicas (reads to the replicas); a cache of
    10% of the key space (LRU, 60 s TTL, invalidated on write) in front; Zipf(0.99)
    keys, 90% reads. The database is sized so each shard stays below saturation.
    """
    rps = 2000.0
    duration = requests / rps
    return simengine.parse_document(
        {
            "scaleboard": 1,
            "simulation": {"duration_s": duration, "snapshot_s": duration / 50},
            "workload": {
                "target": "lb",
                "rps": rps,
                "read_ratio": 0.9,
                "keys": {"count": keys, "zipf_s": 0.99},
            },
            "components": {
                "lb": {"type": "load_balancer", "targets": ["web"]},
                "web": {
                    "type": "service",
                    "instances": 3,
                    "cores": 8,
                    "work_ms": 2,
                    "calls": ["cache"],
                },
                "cache": {
                    "type": "cache",
                    "capacity_keys": max(keys // 10, 1),
                    "ttl_s": 60,
                    "backing": "db",
                },
                "db": {
                    "type": "database",
                    "primary": {"cores": 16, "read_ms": 2, "write_ms": 4},
                    "replicas": {"count": 2},
                    "shards": {"count": shards, "strategy": "hash"},
                },
            },
        }
    )


def datatier(requests: int) -> None:
    """Cost per simulated request of the full data tier at 1 and 32 shards and at
    10k and 10M keys (issue 4's target: < 1.3x growth). bench/datatier.py measures
    the building blocks (cache operations, routers, replication) on their own."""
    print(
        f"\n== full data tier: balancer -> web -> cache -> sharded database with "
        f"replicas ({requests:,} requests) =="
    )
    print(f"{'shards':>6} {'keys':>11} {'us/request':>11} {'ratio':>6} "
          f"{'hit ratio':>9} {'db calls/req':>12} {'us/event':>9}")  # fmt: skip
    base = None
    for keys in (10_000, 10_000_000):
        for shards in (1, 32):
            doc = datatier_document(requests, shards, keys)
            t0 = time.process_time()
            report = simengine.run_replication(doc, seed=1)
            secs = time.process_time() - t0
            done = report["requests"]["completed"]
            us = secs / done * 1e6
            base = base or us
            db = report["components"]["db"]
            db_calls = db["throughput_rps"] * report["duration_s"] / done
            print(
                f"{shards:>6} {keys:>11,} {us:>11.2f} {us / base:>5.2f}x "
                f"{report['components']['cache']['hit_ratio']:>9.3f} "
                f"{db_calls:>12.2f} {secs / report['events'] * 1e6:>9.2f}"
            )
    print(
        "target: every row < 1.3x the first (1 shard, 10k keys); with 10M keys a "
        "run this short has a colder cache, so more database calls per request"
    )


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


def _child(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run a command; return its (CPU seconds, wall seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def command_path(requests: int, repeats: int) -> dict[str, dict[str, float]]:
    """The whole ``python -m simengine run FILE --json`` command against each
    baseline run as a script, on both models: process start, imports, parsing and
    validating the document, the run and the report, in CPU seconds of the child.

    Byte-code is cached for all three alike (``PYTHONPYCACHEPREFIX`` in a temporary
    directory, one untimed run of each first), as it is for any installed package
    or second run; ``PYTHONDONTWRITEBYTECODE`` in the caller's environment would
    otherwise make only the engine's own modules compile on every start.
    """
    print(
        f"\n== whole commands (process start, imports, parse, run, output), "
        f"{requests:,} requests, best of {repeats} (CPU time) =="
    )
    base = str(Path(__file__).resolve().parent / "baselines.py")
    results: dict[str, dict[str, float]] = {}
    startup: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONPYCACHEPREFIX=tmp + "/pyc")
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        docs = {
            "mm4": lambda n: mm4_document(n).model_dump(
                mode="json", exclude_unset=True
            ),
            "network": network_document,
        }
        print(
            f"{'model':<10}{'engine s':>10}{'simpy s':>10}{'heapq s':>10}"
            f"{'simpy/engine':>14}{'engine/heapq':>14}"
        )
        for model, make in docs.items():

            def commands(n: int, model: str = model, make=make) -> dict[str, list[str]]:
                path = Path(tmp) / f"{model}-{n}.json"
                path.write_text(json.dumps(make(n)))
                return {
                    "engine": [sys.executable, "-m", "simengine", "run", str(path), "--json"],
                    "simpy": [sys.executable, base, "simpy", model, str(n)],
                    "heapq": [sys.executable, base, "heapq", model, str(n)],
                }  # fmt: skip

            tiny = commands(100)
            for cmd in tiny.values():
                _child(cmd, env)  # warm-up: writes the byte-code cache
            if not startup:
                startup.update(
                    (name, min(_child(cmd, env)[0] for _ in range(repeats)))
                    for name, cmd in tiny.items()
                )
            cpu = {
                name: min(_child(cmd, env)[0] for _ in range(repeats))
                for name, cmd in commands(requests).items()
            }
            speedup = cpu["simpy"] / cpu["engine"]
            floor = cpu["engine"] / cpu["heapq"]
            results[model] = {**cpu, "simpy_over_engine": speedup,
                              "engine_over_heapq": floor}  # fmt: skip
            print(
                f"{model:<10}{cpu['engine']:>10.2f}{cpu['simpy']:>10.2f}"
                f"{cpu['heapq']:>10.2f}{speedup:>13.2f}x{floor:>13.2f}x"
            )
    print(
        f"start-up (the same commands at 100 requests): engine {startup['engine']:.2f} s"
        f", simpy {startup['simpy']:.2f} s, heapq {startup['heapq']:.2f} s: the "
        "engine's imports (numpy, pydantic) and document models are a fixed cost, so "
        "the ratios improve with the run's length"
    )
    print("targets: simpy/engine >= 3.5x; engine/heapq <= 2x")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-large", type=int, default=10_000_000)
    parser.add_argument(
        "--command-requests",
        type=int,
        default=None,
        help="requests for the whole-command comparison (default: --requests, "
        "performance.md's 200,000; the engine's start-up weighs more the shorter "
        "the run)",
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--only",
        choices=["compare", "scaling", "datatier", "memory", "command"],
        default=None,
    )
    args = parser.parse_args()
    if args.quick:
        args.requests, args.repeats, args.memory_large = 50_000, 1, 1_000_000
    if args.command_requests is None:
        args.command_requests = args.requests
    print(f"python {sys.version.split()[0]}, simpy {simpy.__version__}, "
          f"simengine {simengine.__version__}, {os.cpu_count()} cpus")  # fmt: skip
    if args.only in (None, "compare"):
        compare(args.requests, args.repeats)
    if args.only in (None, "scaling"):
        scaling(max(args.requests // 2, 10_000))
    if args.only in (None, "datatier"):
        datatier(max(args.requests // 2, 10_000))
    if args.only in (None, "command"):
        command_path(args.command_requests, args.repeats)
    if args.only in (None, "memory"):
        memory(100_000, args.memory_large)


if __name__ == "__main__":
    main()
