"""Micro-benchmark of the data tier's building blocks (``simengine.datatier``).

Prints nanoseconds of CPU time per operation (``time.process_time``, best of
``--repeat``; the machines are shared, so ratios in one run matter, not absolutes):

- cache: a ``get`` of Zipf(0.99) keys, a write-through ``put`` of uniform keys and a
  cache-aside request (``get``; ``put`` on a miss), per eviction policy, for a key
  space of 10k and of 10M keys with a capacity of 10% of it (``--capacity-fraction``),
  the cache warmed up first;
- shard routers: ``shard_for`` per strategy at 1 and 32 shards over 10M keys;
- ``keys_moved_fraction`` over 10M keys (4 -> 5 shards) per strategy, in seconds;
- replication: a write with 2 replicas and a replica read.

Target (issue 4, performance.md): the cost per operation should stay nearly flat
(< 1.3x) from 10k to 10M keys and from 1 to 32 shards. The loop overhead of the
benchmark itself (about 30-40 ns) is included in every figure.

    .venv/bin/python bench/datatier.py            # about a minute, ~1 GB peak
    .venv/bin/python bench/datatier.py --quick    # 10k -> 1M keys, seconds
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simengine.datatier import (
    POLICIES,
    STRATEGIES,
    Replication,
    keys_moved_fraction,
    make_cache,
    make_router,
)
from simengine.variates import zipf_keys


def _keys(n: int, count: int, seed: int) -> list[int]:
    draw = zipf_keys(np.random.default_rng(seed), n, 0.99)
    return [draw() for _ in range(count)]


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def bench_cache(
    keyspace: int, ops: int, repeat: int, fraction: float, policies: tuple[str, ...]
) -> dict[str, tuple]:
    capacity = max(1, int(keyspace * fraction))
    # fill with the most popular keys, then let the policy settle on Zipf traffic
    warm = _keys(keyspace, min(max(3 * capacity, 200_000), 1_000_000), seed=1)
    stream = _keys(keyspace, ops, seed=2)
    writes = np.random.default_rng(3).integers(0, keyspace, ops).tolist()
    out = {}
    for policy in policies:
        cache = make_cache(policy, capacity, 3600.0, rng=np.random.default_rng(4))
        get, put = cache.get, cache.put
        for k in range(capacity - 1, -1, -1):
            put(k, 1, 0.0)
        for k in warm:
            if get(k, 0.0) is None:
                put(k, 1, 0.0)
        cache.reset_counters()

        def gets(get=get) -> None:
            for k in stream:
                get(k, 1.0)

        def aside(get=get, put=put) -> None:
            for k in stream:
                if get(k, 1.0) is None:
                    put(k, 1, 1.0)

        def through(put=put) -> None:
            for k in writes:
                put(k, 2, 1.0)

        t_aside = _best(aside, repeat)
        hit = cache.hit_ratio
        t_get = _best(gets, repeat)
        t_put = _best(through, repeat)
        out[policy] = (
            t_get / ops * 1e9,
            t_put / ops * 1e9,
            t_aside / ops * 1e9,
            hit,
        )
        del cache, get, put, aside, through, gets
        gc.collect()
    return out


def bench_routers(keyspace: int, ops: int, repeat: int) -> dict[str, list[float]]:
    keys = _keys(keyspace, ops, seed=5)
    out = {}
    for strategy in STRATEGIES:
        row = []
        for shards in (1, 32):
            router = make_router(
                strategy,
                shards,
                keyspace,
                regions=("us", "eu", "ap"),
                region_weights=(0.5, 0.3, 0.2),
            )
            shard_for = router.shard_for

            def run(shard_for=shard_for) -> None:
                for k in keys:
                    shard_for(k, 1)

            row.append(_best(run, repeat) / ops * 1e9)
            del router, shard_for
            gc.collect()
        out[strategy] = row
    return out


def bench_moved(keyspace: int) -> dict[str, tuple[float, float]]:
    out = {}
    for strategy in STRATEGIES:
        old = make_router(
            strategy, 4, keyspace, regions=("us", "eu"), region_weights=(0.6, 0.4)
        )
        t0 = time.process_time()
        new = old.rebalanced(1)
        frac = keys_moved_fraction(old, new, keyspace)
        out[strategy] = (frac, time.process_time() - t0)
        del old, new
        gc.collect()
    return out


def bench_replication(ops: int, repeat: int) -> tuple[float, float]:
    rng = np.random.default_rng(6)
    keys = rng.integers(0, 100_000, ops).tolist()
    lags = rng.exponential(0.04, (ops, 2)).tolist()
    state: list[Replication] = []

    def writes() -> None:
        rep = Replication(2, "async")
        state[:] = [rep]
        write = rep.write
        now = 0.0
        for k, lag in zip(keys, lags, strict=True):
            now += 0.0001
            write(k, now, lag)

    t_write = _best(writes, repeat)
    read = state[0].read
    end = ops * 0.0001

    def reads() -> None:
        for k in keys:
            read(0, k, end)  # the last ~400 writes are still in flight

    return t_write / ops * 1e9, _best(reads, repeat) / ops * 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10k -> 1M keys, fewer ops")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--capacity-fraction",
        type=float,
        default=0.1,
        help="cache capacity as a share of the key space (1.0: 10M keys cached, "
        "about 2 GB for lru)",
    )
    ap.add_argument("--policies", default=",".join(POLICIES))
    args = ap.parse_args()
    policies = tuple(args.policies.split(","))
    frac = args.capacity_fraction
    big = 1_000_000 if args.quick else 10_000_000
    ops = 100_000 if args.quick else 300_000
    small = 10_000

    print(
        f"cache: ns per op, capacity = {frac:.0%} of the key space, Zipf(0.99), "
        f"{ops} ops"
    )
    a = bench_cache(small, ops, args.repeat, frac, policies)
    b = bench_cache(big, ops, args.repeat, frac, policies)
    print(
        "get: Zipf keys (hits and misses); put: uniform keys (mostly evict + insert);"
        " aside: get, put on a miss"
    )
    print(f"{'policy':8} {'':4} {'get':>6} {'put':>6} {'aside':>6}  hit ratio")
    for p in policies:
        for label, row in (("10k", a[p]), (f"{big:.0e}", b[p])):
            print(
                f"{p:8} {label:>5} {row[0]:6.0f} {row[1]:6.0f} {row[2]:6.0f}  "
                f"{row[3]:.3f}"
            )
        print(
            f"{'':8} {'ratio':>5} {b[p][0] / a[p][0]:6.2f} {b[p][1] / a[p][1]:6.2f} "
            f"{b[p][2] / a[p][2]:6.2f}"
        )

    print(f"\nshard_for: ns per call over {big:.0e} keys, {ops} calls")
    r = bench_routers(big, ops, args.repeat)
    print(f"{'strategy':16} {'1 shard':>8} {'32 shards':>10} {'ratio':>6}")
    for s, (one, many) in r.items():
        print(f"{s:16} {one:8.0f} {many:10.0f} {many / one:6.2f}")

    print(f"\nkeys_moved_fraction over {big:.0e} keys, 4 -> 5 shards")
    for s, (frac, secs) in bench_moved(big).items():
        print(f"{s:16} moved {frac:.4f} in {secs:.2f} s CPU (rebalance included)")

    w, rd = bench_replication(ops, args.repeat)
    print(
        f"\nreplication (2 replicas, async): write {w:.0f} ns, replica read {rd:.0f} ns"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
