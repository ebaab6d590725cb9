"""A CDN (``type: cdn``): one edge cache per client region, hit ratios against
Che's approximation and capacity / keys, the cross-region time hits save, the
estimate, documents."""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers_engine import document, document_tree

import simengine
from simengine import DocumentError, parse_document
from simengine.analytic import che_hit_ratio, estimate

SHARES = {"eu": 0.5, "us": 0.3, "ap": 0.2}
ORIGIN_MS = 10.0  # constant work, 64 cores: the origin never queues
CROSS_MS = 70.0  # the default cross_region_ms


def _doc(
    *,
    cdn: bool = True,
    keys: int = 10_000,
    zipf_s: float = 0.0,
    capacity: int = 2_000,
    served: tuple[str, ...] = ("eu", "us", "ap"),
    read_ratio: float = 1.0,
    duration_s: float = 120,
    seed: int = 5,
) -> simengine.Document:
    comps: dict[str, Any] = {
        "api": {"type": "service", "region": "us", "cores": 64, "work_ms": ORIGIN_MS}
    }
    if cdn:
        comps["edge"] = {
            "type": "cdn",
            "regions": list(served),
            "capacity_keys": capacity,
            "origin": "api",
        }
    return document(
        workload={
            "target": "edge" if cdn else "api",
            "rps": 1000,
            "read_ratio": read_ratio,
            "regions": SHARES,
            "keys": {"count": keys, "zipf_s": zipf_s},
        },
        components=comps,
        duration_s=duration_s,
        warmup_s=60,  # the edge caches fill in the warm-up
        snapshot_s=10,
        seed=seed,
    )


def test_uniform_keys_hit_capacity_over_keys_in_every_region() -> None:
    report = simengine.simulate(_doc())
    edge = report["components"]["edge"]
    for name, node in edge["regions"].items():
        assert node["hit_ratio"] == pytest.approx(2_000 / 10_000, abs=0.01), name
        assert node["hits"] + node["misses"] > 20_000
    assert edge["hits"] == sum(n["hits"] for n in edge["regions"].values())
    assert edge["unserved"] == edge["writes"] == 0


def test_zipf_hit_ratio_per_region_matches_che_and_unserved_regions_skip_it() -> None:
    doc = _doc(keys=100_000, zipf_s=0.8, capacity=5_000, served=("eu", "us"))
    report = simengine.simulate(doc)
    edge = report["components"]["edge"]
    che = che_hit_ratio(
        capacity_keys=5_000,
        key_count=100_000,
        zipf_s=0.8,
        read_rps=500.0,
        write_rps=0.0,
        eviction="lru",
        ttl_s=None,
        invalidate_on_write=False,
    )  # 0.369
    assert set(edge["regions"]) == {"eu", "us"}
    for node in edge["regions"].values():
        assert node["hit_ratio"] == pytest.approx(che, abs=0.01)
    # ap's clients are not served: their reads go to the origin (20% of them)
    requests = edge["throughput_rps"] * report["duration_s"]
    assert edge["unserved"] / requests == pytest.approx(0.2, abs=0.01)
    est = estimate(doc)["components"]["edge"]["regions"]
    assert est["eu"]["hit_ratio"] == pytest.approx(che, abs=1e-3)
    assert est["us"]["hit_ratio"] == pytest.approx(che, abs=1e-3)


def test_hits_skip_the_cross_region_latency() -> None:
    with_cdn = simengine.simulate(_doc())
    without = simengine.simulate(_doc(cdn=False))
    edge = with_cdn["components"]["edge"]
    # without: the remote clients (eu, ap: 70% of them) pay 70 ms to the origin
    assert without["latency_ms"]["mean"] == pytest.approx(
        ORIGIN_MS + 0.7 * CROSS_MS, rel=0.01
    )
    # a hit costs hit_ms (2) instead of the trip and the origin's work
    drop = sum(
        share
        * edge["regions"][name]["hit_ratio"]
        * ((CROSS_MS if name != "us" else 0.0) + ORIGIN_MS - 2.0)
        for name, share in SHARES.items()
    )
    measured = without["latency_ms"]["mean"] - with_cdn["latency_ms"]["mean"]
    assert measured == pytest.approx(drop, rel=0.03)
    # the cross-region part: hit ratio x 70 ms for the remote regions' share
    cross = sum(
        share * edge["regions"][name]["hit_ratio"] * CROSS_MS
        for name, share in SHARES.items()
        if name != "us"
    )
    assert cross == pytest.approx(0.2 * 0.7 * CROSS_MS, rel=0.05)
    # saved_ms: 70 ms per hit away from the origin's region, nothing in it
    for name, node in edge["regions"].items():
        per_hit = 0.0 if name == "us" else CROSS_MS
        assert node["saved_ms"] == pytest.approx(node["hits"] * per_hit)
    est = estimate(_doc())
    assert est["latency_ms"]["mean"] == pytest.approx(
        with_cdn["latency_ms"]["mean"], rel=0.02
    )


def test_writes_pass_through_to_the_origin() -> None:
    report = simengine.simulate(_doc(read_ratio=0.5, duration_s=30))
    edge = report["components"]["edge"]
    requests = edge["throughput_rps"] * report["duration_s"]
    assert edge["writes"] / requests == pytest.approx(0.5, abs=0.02)
    assert report["components"]["api"]["throughput_rps"] > 0.5 * 1000 * 0.95


def test_windows_carry_the_hit_ratio_and_no_utilization() -> None:
    report = simengine.simulate(_doc(duration_s=30))
    for w in report["timeline"]:
        entry = w["components"]["edge"]
        assert entry["utilization"] is None
        assert entry["hit_ratio"] == pytest.approx(0.2, abs=0.03)


def test_same_seed_same_report_other_seed_differs() -> None:
    a = json.dumps(simengine.simulate(_doc(duration_s=20)), sort_keys=True)
    b = json.dumps(simengine.simulate(_doc(duration_s=20)), sort_keys=True)
    c = json.dumps(simengine.simulate(_doc(duration_s=20, seed=6)), sort_keys=True)
    assert a == b
    assert a != c


# --- documents ------------------------------------------------------------------------


def _tree(**cdn: Any) -> dict[str, Any]:
    return document_tree(
        workload={"target": "edge", "rps": 10, "regions": {"eu": 0.5, "us": 0.5}},
        components={
            "edge": {"type": "cdn", "regions": ["eu", "us"], "origin": "api", **cdn},
            "api": {"type": "service", "region": "us"},
            "q": {"type": "queue", "consumers": "api"},
        },
        duration_s=10,
        warmup_s=0,
    )


def _paths(tree: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(DocumentError) as info:
        parse_document(tree)
    return {e.path: e.message for e in info.value.errors}


@pytest.mark.parametrize(
    ("cdn", "path", "words"),
    [
        ({"regions": ["eu", "asia"]}, "components.edge.regions[1]", "not a client"),
        ({"regions": ["eu", "eu"]}, "components.edge.regions", "more than once"),
        ({"regions": []}, "components.edge.regions", ""),
        ({"capacity_keys": 0}, "components.edge.capacity_keys", ">= 1"),
        ({"ttl_s": 0}, "components.edge.ttl_s", ""),
        ({"hit_ms": -1}, "components.edge.hit_ms", ""),
        ({"origin": "apj"}, "components.edge.origin", "did you mean 'api'"),
        ({"origin": "q"}, "components.edge.origin", "must be a service"),
        ({"region": "eu"}, "components.edge.region", "takes no region"),
    ],
)
def test_bad_cdn_values_name_their_field(
    cdn: dict[str, Any], path: str, words: str
) -> None:
    errors = _paths(_tree(**cdn))
    assert path in errors, errors
    assert words in errors[path]


def test_a_cdn_needs_client_regions_and_sits_in_front_of_the_clients() -> None:
    tree = _tree()
    del tree["workload"]["regions"]
    assert "has no regions" in _paths(tree)["components.edge.regions[0]"]
    tree = _tree()
    tree["components"]["web"] = {"type": "service", "calls": ["edge"]}
    assert "workload.target" in _paths(tree)["components.web.calls[0]"]
