"""Time the instant estimate on a 50-component document (prints the median ms).

    .venv/bin/python bench/estimate.py [--repeat 200]

The document: one balancer in front of 20 services; 14 of them call their own cache
(Zipf keys, 10M of them, so Che's approximation does real work) and each cache and
the other services use one of 15 sharded, replicated databases. Parsing is timed
apart from the estimate: the designer pays both on every change.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simengine.analytic import clear_caches, estimate
from simengine.document import parse_document


def fifty_component_document() -> str:
    lines = [
        "scaleboard: 1",
        "name: Fifty components",
        "workload: {target: lb, rps: 20000, read_ratio: 0.9,"
        " keys: {count: 10000000, zipf_s: 0.99}}",
        "network: {hop_ms: 0.5}",
        "components:",
        "  lb: {type: load_balancer, algorithm: least_connections, targets: ["
        + ", ".join(f"svc{i}" for i in range(20))
        + "]}",
    ]
    for i in range(20):
        callee = f"cache{i}" if i < 14 else f"db{i % 15}"
        lines.append(
            f"  svc{i}: {{type: service, instances: 4, cores: 4,"
            f" work_ms: {{dist: exponential, mean: 5}}, calls: [{callee}],"
            " scaling: {contention: 0.01, coherency: 0.0001}}"
        )
    for i in range(14):
        lines.append(
            f"  cache{i}: {{type: cache, backing: db{i}, capacity_keys: 500000,"
            " ttl_s: 300, hit_ms: 0.3}"
        )
    for i in range(15):
        lines.append(
            f"  db{i}: {{type: database, primary: {{cores: 16}},"
            " replicas: {count: 2}, shards: {count: 4, strategy: range}}"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    text = fifty_component_document()
    doc = parse_document(text)
    assert len(doc.components) == 50
    estimate(doc)  # warm the popularity cache, as a running server has
    est_ms, parse_ms = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        d = parse_document(text)
        t1 = time.perf_counter()
        estimate(d)
        t2 = time.perf_counter()
        parse_ms.append((t1 - t0) * 1000)
        est_ms.append((t2 - t1) * 1000)
    clear_caches()
    t0 = time.perf_counter()
    estimate(doc)
    cold = (time.perf_counter() - t0) * 1000
    print(f"components: {len(doc.components)}, repeats: {args.repeat}")
    print(f"estimate median: {statistics.median(est_ms):.2f} ms")
    print(f"estimate p95:    {sorted(est_ms)[int(0.95 * len(est_ms))]:.2f} ms")
    print(f"estimate cold (popularity tables rebuilt): {cold:.2f} ms")
    print(f"parse median:    {statistics.median(parse_ms):.2f} ms")


if __name__ == "__main__":
    main()
