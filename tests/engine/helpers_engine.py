"""Small builders shared by the engine tests."""

from __future__ import annotations

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
) -> simengine.Document:
    """A parsed document: the envelope every engine test needs around its parts."""
    return simengine.parse_document(
        {
            "scaleboard": 1,
            "simulation": {
                "duration_s": duration_s,
                "warmup_s": warmup_s,
                "seed": seed,
                "snapshot_s": snapshot_s,
            },
            "workload": workload,
            "components": components,
            "faults": faults or [],
        }
    )


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
