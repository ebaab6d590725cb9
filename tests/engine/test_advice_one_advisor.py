"""One advisor words a finding one way, whether a run measured it or the estimate
worked it out, and never contradicts itself.

The run path is ``simengine.advice.bottleneck(doc, components)`` on a run report's
components; the estimate path is ``estimate(doc)["bottleneck"]``. Each situation
below is estimated, and the same numbers are handed to the run path as a run report
would give them (a balancer's and a cache's utilization None): the wording must be
identical, the run report's ``advice`` being the estimate's ``why`` and ``advice``.
"""

from __future__ import annotations

import glob
import json
import re
from pathlib import Path
from typing import Any

import pytest
from helpers_engine import document
from hypothesis import HealthCheck, given, settings
from strategies import documents

import simengine
from simengine.advice import (
    ALL_FINE,
    bottleneck,
    busiest,
    component_load,
    run_warnings,
)
from simengine.analytic import estimate
from simengine.runner import run_replication

ROOT = Path(__file__).resolve().parents[2]

#: An instruction to scale: never beside "Nothing is under pressure".
SCALE_INSTRUCTION = re.compile(
    r"\b(scale (out|up|it)|add |put |route |use |make it|run several)", re.IGNORECASE
)
#: What a broken sentence looks like: a multiplier of nothing, a missing number.
BROKEN = re.compile(
    r"\b0\.0+x|infx|\binf\b|\bnan\b|None|; \.|: \.|\(\)|  |\.\.|\$\{|\{|\}"
)


def _doc(components: dict[str, Any], rps: float, read_ratio: float = 0.9) -> Any:
    return document(
        duration_s=10,
        warmup_s=0,
        seed=0,
        workload={
            "target": next(iter(components)),
            "rps": rps,
            "read_ratio": read_ratio,
        },
        components=components,
    )


WEB_AND_DB = {
    "lb": {"type": "load_balancer", "targets": ["web"]},
    "web": {
        "type": "service",
        "instances": 2,
        "cores": 4,
        "work_ms": {"dist": "exponential", "mean": 10},
        "calls": ["db"],
    },
    "db": {
        "type": "database",
        "primary": {
            "cores": 4,
            "read_ms": {"dist": "exponential", "mean": 10},
            "write_ms": {"dist": "exponential", "mean": 10},
            "connections": 1000,
        },
    },
}

#: The same with a database of 8 cores: at 80 rps, both at 10%.
WEB_AND_BIGGER_DB = {
    **WEB_AND_DB,
    "db": {**WEB_AND_DB["db"], "primary": {**WEB_AND_DB["db"]["primary"], "cores": 8}},
}

SINGLE_SERVER = {
    "app": {
        "type": "service",
        "cores": 4,
        "work_ms": {"dist": "exponential", "mean": 10},
    }
}

SITUATIONS = {
    # 360 rps x 10 ms over 4 cores: the database at 90%, 90% of its work reads
    "database at 90% with 90% reads": (WEB_AND_DB, 360.0),
    # 380 rps x 10 ms over 4 cores
    "a single service at 95%": (SINGLE_SERVER, 380.0),
    # 80 rps: web (2 x 4 cores) and db (8 cores) both at 10%
    "everything at 10%": (WEB_AND_BIGGER_DB, 80.0),
    "rps 0": (WEB_AND_DB, 0.0),
}


def as_run_components(result: dict[str, Any]) -> dict[str, Any]:
    """The estimate's components as a run report gives them: a service's and a
    database's utilization, a database's nodes, the read share; None for a
    balancer and a cache (no capacity of their own)."""
    out = {}
    for cid, c in result["components"].items():
        rep: dict[str, Any] = {"type": c["type"], "utilization": None}
        if c["peak_utilization"] is not None:
            rep["utilization"] = (
                c["utilization"] if "nodes" in c else c["peak_utilization"]
            )
            rep["read_work_share"] = c.get("read_work_share")
            rep["rejected"] = 0
            rep["throughput_rps"] = c["offered_rps"]
        if "nodes" in c:
            rep["nodes"] = {
                name: {"utilization": n["offered_utilization"]}
                for name, n in c["nodes"].items()
            }
        out[cid] = rep
    return out


def both_paths(components: dict[str, Any], rps: float) -> tuple[dict, dict]:
    doc = _doc(components, rps)
    est = estimate(doc)["bottleneck"]
    run = bottleneck(doc, as_run_components(estimate(doc)))
    return run, est


@pytest.mark.parametrize("situation", SITUATIONS)
def test_a_run_and_an_estimate_word_the_same_situation_identically(situation):
    run, est = both_paths(*SITUATIONS[situation])
    assert run["component"] == est["component"]
    assert run["utilization"] == pytest.approx(est["utilization"], abs=1e-4)
    assert run["advice"] == f"{est['why']} {est['advice']}"


def test_a_database_at_90_percent_of_reads_is_told_about_replicas_and_a_cache():
    _, est = both_paths(*SITUATIONS["database at 90% with 90% reads"])
    assert est["why"] == (
        "db is the bottleneck: db primary at 90%, 90% of its work is reads; it "
        "saturates near 1.11x this load."
    )
    assert est["advice"] == (
        "Its reads can be spread or avoided: read replicas or a cache (database "
        "replication, caching) would relieve it."
    )
    assert est["node"] == "primary"


def test_a_single_service_at_95_percent_is_told_to_scale_out():
    _, est = both_paths(*SITUATIONS["a single service at 95%"])
    assert est["why"] == (
        "app is the bottleneck: app at 95% (1 instance x 4 cores); it saturates near "
        "1.05x this load."
    )
    assert est["advice"].startswith(
        "A single server is the limit and a single point of failure: a load "
        "balancer in front of several instances (horizontal scaling)"
    )
    assert est["advice"].endswith(
        "; 2 instances instead of 1 would bring it to about 48%."
    )


def test_a_calm_design_names_the_first_to_saturate_without_an_instruction():
    _, est = both_paths(*SITUATIONS["everything at 10%"])
    # a tie (both at 10%) goes to the component listed first
    assert est["component"] == "web"
    assert est["why"].startswith(
        f"{ALL_FINE}: every component has headroom at this load; the busiest is web "
        "at 10% (2 instances x 4 cores)."
    )
    assert est["advice"].startswith(
        "If the load grows, web saturates first (near 10.0x this load"
    )
    assert not SCALE_INSTRUCTION.search(est["why"] + est["advice"])


def test_no_load_gives_whole_sentences_on_both_paths():
    run, est = both_paths(*SITUATIONS["rps 0"])
    assert run["utilization"] == 0.0
    assert est["capacity_rps"] is None
    for text in (run["advice"], est["why"], est["advice"]):
        assert not BROKEN.search(text), text
        assert text.endswith(".")
    assert est["why"] == f"{ALL_FINE}: no component is busy at this load."


def test_a_run_at_rps_0_reports_whole_sentences():
    doc = _doc(WEB_AND_DB, 0.0)
    report = run_replication(doc, seed=1)
    texts = [report["bottleneck"]["advice"], *report["warnings"]]
    for text in texts:
        assert not BROKEN.search(text), text
    assert report["bottleneck"]["advice"].startswith(ALL_FINE)
    assert report["warnings"][0].startswith("no requests arrived after the warm-up")


def test_components_without_a_utilization_are_never_the_bottleneck():
    doc = _doc(WEB_AND_DB, 100.0)
    comps = {
        "lb": {"type": "load_balancer", "utilization": None},
        "web": {"type": "service", "utilization": 0.2},
        "db": {"type": "database", "utilization": 0.1, "read_work_share": 0.9},
    }
    assert component_load(comps["lb"]) is None
    assert busiest(comps) == "web"
    assert busiest({"lb": comps["lb"]}) is None
    assert bottleneck(doc, comps)["component"] == "web"
    # today's engine reports 0.0 for a balancer: still not a candidate at no load
    zero = {cid: {**rep, "utilization": 0.0} for cid, rep in comps.items()}
    assert bottleneck(doc, zero)["component"] == "web"


def test_nothing_measured_gives_a_whole_sentence_and_warnings_do_not_break():
    doc = _doc(WEB_AND_DB, 100.0)
    comps = {cid: {"type": c["type"], "utilization": None} for cid, c in
             WEB_AND_DB.items()}  # fmt: skip
    neck = bottleneck(doc, comps)
    assert neck == {
        "component": None,
        "utilization": 0.0,
        "advice": "Nothing measured: no component has a capacity of its own.",
    }
    report = {
        "requests": {"offered": 10, "completed": 10, "errors": 0, "timeouts": 0,
                     "rejected": 0, "in_flight": 0},
        "duration_s": 10.0,
        "throughput_rps": 1.0,
        "bottleneck": neck,
    }  # fmt: skip
    for text in run_warnings(doc, report):
        assert not BROKEN.search(text), text
        assert "None" not in text


def _assert_consistent(text: str) -> None:
    if ALL_FINE in text:
        assert not SCALE_INSTRUCTION.search(text), text
    assert not BROKEN.search(text), text


def test_no_golden_report_says_all_is_fine_and_to_scale_in_one_breath():
    for path in sorted(glob.glob(str(ROOT / "tests/engine/golden/*.json"))):
        report = json.loads(Path(path).read_text())
        _assert_consistent(report["bottleneck"]["advice"])


def test_no_example_estimate_says_all_is_fine_and_to_scale_in_one_breath():
    for path in sorted(glob.glob(str(ROOT / "examples/*.yaml"))):
        neck = estimate(simengine.parse_document(Path(path).read_bytes()))["bottleneck"]
        _assert_consistent(f"{neck['why']} {neck['advice']}")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_any_document_gets_advice_that_does_not_contradict_itself(tree):
    doc = simengine.parse_document(tree)
    result = estimate(doc)
    neck = result["bottleneck"]
    if neck is None:
        return
    _assert_consistent(f"{neck['why']} {neck['advice']}")
    run = bottleneck(doc, as_run_components(result))
    _assert_consistent(run["advice"])
