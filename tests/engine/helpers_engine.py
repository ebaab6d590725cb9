"""Small builders shared by the engine tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import simengine


def document(
    *,
    workload: dict[str, Any],
    components: dict[str, Any],
    duration_s: float,
    warmup_s: float,
    seed: int = 1,
    snapshot_s: float = 1,
    faults: list[dict[str, Any]] | None = None,
    replications: int | None = None,
    network: dict[str, Any] | None = None,
    objectives: dict[str, Any] | None = None,
    name: str | None = None,
    description: str | None = None,
    limits: simengine.Limits | None = None,
) -> simengine.Document:
    """A parsed document: the envelope every engine test needs around its parts.

    A part left as None is left out of the document (its default applies); note that
    ``seed`` and ``snapshot_s`` are always written, and a document without a seed
    runs seed 0, not 1.
    """
    return simengine.parse_document(
        document_tree(
            workload=workload,
            components=components,
            duration_s=duration_s,
            warmup_s=warmup_s,
            seed=seed,
            snapshot_s=snapshot_s,
            faults=faults,
            replications=replications,
            network=network,
            objectives=objectives,
            name=name,
            description=description,
        ),
        limits=limits,
    )


def document_tree(
    *,
    workload: dict[str, Any],
    components: dict[str, Any],
    duration_s: float,
    warmup_s: float,
    seed: int = 1,
    snapshot_s: float = 1,
    faults: list[dict[str, Any]] | None = None,
    replications: int | None = None,
    network: dict[str, Any] | None = None,
    objectives: dict[str, Any] | None = None,
    name: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """The unparsed tree of :func:`document`, for tests that hand a file or a
    malformed part to the parser."""
    simulation: dict[str, Any] = {
        "duration_s": duration_s,
        "warmup_s": warmup_s,
        "seed": seed,
        "snapshot_s": snapshot_s,
    }
    if replications is not None:
        simulation["replications"] = replications
    optional = {
        "name": name,
        "description": description,
        "network": network,
        "objectives": objectives,
    }
    return {
        "scaleboard": 1,
        "simulation": simulation,
        "workload": workload,
        "components": components,
        "faults": faults or [],
        **{key: value for key, value in optional.items() if value is not None},
    }


def example_document(
    path: Path, *, faults: list[dict[str, Any]] | None = None, **simulation: Any
) -> simengine.Document:
    """The example document at ``path`` through :func:`document`, its simulation
    settings overridden by ``simulation`` and its faults by ``faults`` (``[]`` for
    none)."""
    tree = dict(simengine.load_document_tree(path.read_bytes()))
    # a document without a seed runs seed 0, not document()'s 1
    settings = {"seed": 0, **tree.pop("simulation", {}), **simulation}
    own_faults = tree.pop("faults", [])
    del tree["scaleboard"]
    return document(**settings, **tree, faults=own_faults if faults is None else faults)


def sized_document(
    *,
    requests: int,
    target: str,
    rps: float,
    components: dict[str, Any],
    seed: int = 1,
    warmup_s: float | None = None,
    snapshot_s: float | None = None,
    workload: dict[str, Any] | None = None,
    faults: list[dict[str, Any]] | None = None,
) -> simengine.Document:
    """A document whose run offers about ``requests`` all-read requests at ``rps`` to
    ``target``: warm-up 2% of the run and 50 snapshots unless given."""
    duration = requests / rps
    return document(
        duration_s=duration,
        warmup_s=duration * 0.02 if warmup_s is None else warmup_s,
        seed=seed,
        snapshot_s=snapshot_s or duration / 50,
        workload={"target": target, "rps": rps, "read_ratio": 1.0, **(workload or {})},
        components=components,
        faults=faults,
    )


def service_doc(
    *,
    rps: float,
    cores: int = 1,
    work_ms: Any = None,
    requests: int,
    warmup_s: float | None = None,
    seed: int = 1,
    snapshot_s: float | None = None,
    workload: dict[str, Any] | None = None,
    **service: Any,
) -> simengine.Document:
    """One service called directly by the clients, sized for ``requests``."""
    return sized_document(
        requests=requests,
        target="svc",
        rps=rps,
        seed=seed,
        warmup_s=warmup_s,
        snapshot_s=snapshot_s,
        workload=workload,
        components={
            "svc": {
                "type": "service",
                "cores": cores,
                "work_ms": work_ms or {"dist": "exponential", "mean": 10},
                **service,
            }
        },
    )


def balanced_doc(
    *,
    rps: float,
    requests: int,
    algorithm: str,
    instances: int = 3,
    cores: int = 1,
    work_mean_ms: float = 10,
    seed: int = 1,
    extra_services: dict[str, Any] | None = None,
    lb: dict[str, Any] | None = None,
    web: dict[str, Any] | None = None,
    workload: dict[str, Any] | None = None,
    faults: list[dict[str, Any]] | None = None,
    snapshot_s: float | None = None,
    warmup_s: float | None = None,
) -> simengine.Document:
    components: dict[str, Any] = {
        "lb": {
            "type": "load_balancer",
            "algorithm": algorithm,
            "layer": 4,
            "targets": ["web", *(extra_services or {})],
            **(lb or {}),
        },
        "web": {
            "type": "service",
            "instances": instances,
            "cores": cores,
            "work_ms": {"dist": "exponential", "mean": work_mean_ms},
            **(web or {}),
        },
    }
    for name, spec in (extra_services or {}).items():
        components[name] = {"type": "service", **spec}
    return sized_document(
        requests=requests,
        target="lb",
        rps=rps,
        seed=seed,
        warmup_s=warmup_s,
        snapshot_s=snapshot_s,
        workload=workload,
        components=components,
        faults=faults,
    )


def rel(a: float, b: float) -> float:
    """Relative difference of a from b."""
    return abs(a - b) / abs(b)
