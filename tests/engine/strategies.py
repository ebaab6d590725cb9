"""Hypothesis strategies for valid documents, shared by the estimate's and the
engine's property tests."""

from __future__ import annotations

from hypothesis import strategies as st

from simengine.document import DISTRIBUTIONS, LB_ALGORITHMS


def _distribution(dist: str, mean: float, cv: float, k: int, alpha: float, samples):
    """A valid mapping of each kind: the parameters each one takes, and only those."""
    if dist == "empirical":
        return {"dist": dist, "samples": samples}
    out = {"dist": dist, "mean": mean}
    if dist == "erlang":
        out["k"] = k
    elif dist == "pareto":
        out["alpha"] = alpha
    elif dist == "hyperexponential":
        out["cv"] = 1.05 + cv
    else:
        out["cv"] = cv
    return out


durations = st.one_of(
    st.floats(min_value=0, max_value=50),
    st.builds(
        _distribution,
        st.sampled_from(DISTRIBUTIONS),
        st.floats(min_value=0, max_value=50),
        st.floats(min_value=0, max_value=3),
        st.integers(1, 20),
        st.floats(min_value=1.05, max_value=6),
        st.lists(st.floats(min_value=0, max_value=50), min_size=1, max_size=20),
    ),
)


@st.composite
def documents(draw):
    """A valid document tree: services behind a balancer, caches, databases with
    replicas, shards and multi-primary, a Zipf workload, sometimes objectives."""
    n_svc = draw(st.integers(1, 4))
    n_db = draw(st.integers(0, 2))
    n_cache = draw(st.integers(0, 2)) if n_db else 0
    comps = {}
    dbs = [f"db{i}" for i in range(n_db)]
    caches = [f"cache{i}" for i in range(n_cache)]
    for name in dbs:
        db = {
            "type": "database",
            "primary": {
                "cores": draw(st.integers(1, 16)),
                "read_ms": draw(durations),
                "write_ms": draw(durations),
                "connections": draw(st.integers(1, 300)),
            },
        }
        if draw(st.booleans()):
            db["replicas"] = {
                "count": draw(st.integers(0, 3)),
                "reads": draw(
                    st.sampled_from(["replicas", "primary", "read_your_writes"])
                ),
            }
        if draw(st.booleans()):
            db["shards"] = {
                "count": draw(st.integers(1, 5)),
                "strategy": draw(st.sampled_from(["range", "hash", "directory"])),
            }
        db["primaries"] = draw(st.integers(1, 2))
        comps[name] = db
    for name in caches:
        comps[name] = {
            "type": "cache",
            "backing": draw(st.sampled_from(dbs)),
            "capacity_keys": draw(st.integers(1, 2_000_000)),
            "eviction": draw(st.sampled_from(["lru", "lfu", "fifo", "random"])),
            "strategy": draw(
                st.sampled_from(
                    ["cache_aside", "read_through", "write_through", "write_behind"]
                )
            ),
            "ttl_s": draw(
                st.one_of(st.none(), st.floats(min_value=0.01, max_value=600))
            ),
            "hit_ms": draw(durations),
        }
    for i in range(n_svc):
        callees = (
            draw(st.lists(st.sampled_from(dbs + caches), max_size=2, unique=True))
            if (dbs or caches)
            else []
        )
        svc = {
            "type": "service",
            "instances": draw(st.integers(1, 6)),
            "cores": draw(st.integers(1, 16)),
            "speed": draw(st.floats(min_value=0.1, max_value=4)),
            "work_ms": draw(
                st.one_of(
                    durations,
                    st.builds(
                        lambda r, w: {"read": r, "write": w}, durations, durations
                    ),
                )
            ),
            "calls": callees,
        }
        if draw(st.booleans()):
            svc["queue_limit"] = draw(st.integers(0, 200))
        if draw(st.booleans()):
            svc["scaling"] = {
                "contention": draw(st.floats(0, 0.3)),
                "coherency": draw(st.floats(0, 0.01)),
            }
        comps[f"svc{i}"] = svc
    comps["lb"] = {
        "type": "load_balancer",
        "targets": [f"svc{i}" for i in range(n_svc)],
        "algorithm": draw(
            st.sampled_from(
                ["round_robin", "weighted_round_robin", "least_connections", "random"]
            )
        ),
    }
    workload = {
        "target": "lb",
        "rps": draw(st.floats(min_value=0, max_value=50_000)),
        "read_ratio": draw(st.floats(0, 1)),
        "scatter_ratio": draw(st.floats(0, 1)),
        "keys": {
            "count": draw(st.integers(1, 10_000_000)),
            "zipf_s": draw(st.floats(0, 2)),
            "shuffle": draw(st.booleans()),
        },
    }
    tree = {"scaleboard": 1, "workload": workload, "components": comps}
    if draw(st.booleans()):
        bound = st.none() | st.floats(min_value=1e-3, max_value=1e6)
        tree["objectives"] = {
            "latency_ms": {"mean": draw(bound), "p99": draw(bound)},
            "error_rate": draw(st.none() | st.floats(0, 1)),
            "throughput_rps": draw(st.none() | st.floats(0, 1e6)),
            "utilization": draw(st.none() | st.floats(0, 1)),
        }
    return tree


@st.composite
def simulated_documents(draw):
    """:func:`documents` with everything else the engine can do switched on at random
    (arrival kinds, phases, timeouts, regions, network delays, every balancing
    algorithm, health checks, retries, autoscaling, sessions, replicas with failover,
    every shard strategy with rebalancing, cache nodes, faults), and a simulated
    time short enough for about 1,500 requests."""
    tree = draw(documents())
    wl = tree["workload"]
    rps = wl["rps"]
    dur = max(0.5, min(20.0, 1500.0 / rps)) if rps > 0 else 5.0
    tree["simulation"] = {
        "duration_s": dur,
        "warmup_s": draw(st.sampled_from([0.0, dur / 10])),
        "snapshot_s": dur / draw(st.integers(1, 6)),
        "seed": draw(st.integers(0, 5)),
    }
    if draw(st.booleans()):
        wl["arrivals"] = draw(st.sampled_from(["poisson", "constant", "bursty"]))
    if draw(st.booleans()):
        at = sorted(
            draw(st.lists(st.floats(0, dur), min_size=1, max_size=3, unique=True))
        )
        wl["phases"] = [{"at_s": a, "rps": draw(st.floats(0, rps * 2 + 1))} for a in at]
    if draw(st.booleans()):
        wl["timeout_ms"] = draw(st.floats(0.5, 500))
    if draw(st.booleans()):
        wl["clients"] = draw(st.integers(1, 100))
    comps = tree["components"]
    if draw(st.booleans()):
        wl["regions"] = {"us": 0.5, "eu": 0.5}
        for c in comps.values():
            if draw(st.booleans()):
                c["region"] = draw(st.sampled_from(["us", "eu"]))
    if draw(st.booleans()):
        tree["network"] = {
            "hop_ms": draw(st.floats(0, 5)),
            "cross_region_ms": draw(st.floats(0, 100)),
        }
    lb = comps["lb"]
    lb["algorithm"] = draw(st.sampled_from(LB_ALGORITHMS))
    if draw(st.booleans()):
        lb["health_check"] = {
            "interval_s": draw(st.floats(0.1, 2)),
            "unhealthy_after": draw(st.integers(1, 3)),
        }
    lb["retries"] = draw(st.integers(0, 3))
    lb["instances"] = draw(st.integers(1, 3))
    if draw(st.booleans()):
        lb["layer"] = 7
        lb["overhead_ms"] = draw(st.floats(0, 2))
    faults = []
    for cid, c in comps.items():
        if c["type"] == "service":
            if draw(st.integers(0, 3)) == 0:
                c["autoscale"] = {
                    "min": 1,
                    "max": c.get("instances", 1) + 2,
                    "check_s": dur / 5,
                    "boot_s": draw(st.floats(0, dur / 3)),
                    "cooldown_s": 0.0,
                }
            c["stateful"] = draw(st.booleans())
        if c["type"] == "database":
            if draw(st.booleans()):
                c["replicas"] = {
                    "count": draw(st.integers(0, 3)),
                    "mode": draw(st.sampled_from(["async", "semi_sync", "sync"])),
                    "reads": draw(
                        st.sampled_from(["replicas", "primary", "read_your_writes"])
                    ),
                }
                if draw(st.booleans()):
                    c["failover"] = {
                        "detect_s": draw(st.floats(0, 1)),
                        "promote_s": draw(st.floats(0, 1)),
                    }
            if "shards" in c and draw(st.booleans()):
                c["shards"]["strategy"] = draw(
                    st.sampled_from(
                        ["range", "hash", "consistent_hash", "geo", "directory"]
                    )
                )
                if draw(st.booleans()):
                    c["shards"]["rebalance"] = {
                        "at_s": draw(st.floats(0, dur)),
                        "add": draw(st.integers(1, 2)),
                    }
        if c["type"] == "cache":
            c["nodes"] = draw(st.integers(1, 3))
        if draw(st.integers(0, 3)) == 0:
            # before the run ends (warmup_s + duration_s >= dur): a fault at or after
            # the end is refused by the parser
            fault = {
                "at_s": draw(st.floats(0, dur, exclude_max=True)),
                "component": cid,
            }
            if draw(st.booleans()):
                fault["for_s"] = draw(st.floats(0.01, dur))
            if c["type"] == "database":
                fault["node"] = "primary"
            elif c["type"] == "cache":
                fault["node"] = 0
            elif draw(st.booleans()):
                fault["instance"] = 0
            faults.append(fault)
    tree["faults"] = faults
    if draw(st.integers(0, 3)) == 0:  # clients that re-send (workload.retry)
        wl["retry"] = {
            "max": draw(st.integers(0, 3)),
            "backoff_ms": draw(st.sampled_from([0.0, 1.0, 20.0])),
            "factor": draw(st.floats(1, 3)),
            "jitter": draw(st.booleans()),
        }
        if draw(st.booleans()):
            wl["retry"]["budget"] = draw(st.floats(0, 1))
    return tree
