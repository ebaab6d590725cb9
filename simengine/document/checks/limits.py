"""The limits that keep one document from exhausting a worker (``Limits``): keys,
clients, instances, snapshots, replications and the run's requests and events."""

from __future__ import annotations

import math

from ...errors import FieldError
from ...limits import Limits
from ..budget import events_per_request, expected_requests
from ..models import Document, Workload


def workload_limit_errors(wl: Workload, limits: Limits) -> list[FieldError]:
    """Key and client counts over their limits."""
    errors = []
    if wl.keys is not None and wl.keys.count > limits.max_keys:
        errors.append(
            FieldError(
                "workload.keys.count",
                f"{wl.keys.count} keys is over the limit of {limits.max_keys} "
                "(Limits.max_keys)",
            )
        )
    if wl.users is not None:
        counts = [("workload.users.count", wl.users.count)] + [
            (f"workload.phases[{i}].users", p.users)
            for i, p in enumerate(wl.phases)
            if p.users is not None
        ]
        for path, count in counts:
            if count > limits.max_users:
                errors.append(
                    FieldError(
                        path,
                        f"{count} users is over the limit of {limits.max_users} "
                        "(Limits.max_users)",
                    )
                )
    if wl.clients > limits.max_clients:
        errors.append(
            FieldError(
                "workload.clients",
                f"{wl.clients} clients is over the limit of {limits.max_clients} "
                "(Limits.max_clients)",
            )
        )
    return errors


def run_limit_errors(doc: Document, limits: Limits) -> list[FieldError]:
    """Instances, snapshots, replications, requests and events of the whole run."""
    errors: list[FieldError] = []

    def err(path: str, message: str) -> None:
        errors.append(FieldError(path, message))

    total_instances = sum(c.instance_count() for c in doc.components.values())
    if total_instances > limits.max_instances:
        err(
            "components",
            f"{total_instances} instances in all is over the limit of "
            f"{limits.max_instances} (Limits.max_instances)",
        )
    sim = doc.simulation
    horizon = sim.warmup_s + sim.duration_s
    windows = math.ceil(sim.warmup_s / sim.snapshot_s) + math.ceil(
        sim.duration_s / sim.snapshot_s
    )
    if windows > limits.max_snapshots:
        err(
            "simulation.snapshot_s",
            f"{windows} snapshots per replication is over the limit of "
            f"{limits.max_snapshots} (Limits.max_snapshots): raise snapshot_s",
        )
    if sim.replications > limits.max_replications:
        err(
            "simulation.replications",
            f"must be <= {limits.max_replications} (Limits.max_replications) "
            f"(got {sim.replications})",
        )
    if sim.precision is not None:
        if sim.precision.max_replications > limits.max_replications:
            err(
                "simulation.precision.max_replications",
                f"must be <= {limits.max_replications} (Limits.max_replications) "
                f"(got {sim.precision.max_replications})",
            )
        if sim.precision.max_replications < sim.min_replications:
            err(
                "simulation.precision.max_replications",
                f"must be at least the replications run first ({sim.min_replications}: "
                f"simulation.replications, and 2 for an interval) "
                f"(got {sim.precision.max_replications})",
            )
    planned = sim.planned_replications
    # independent of other errors: only workload and simulation matter
    requests = expected_requests(doc) * planned
    if requests > limits.max_requests:
        err(
            "simulation.duration_s",
            f"the run would make about {requests:.3g} requests "
            f"({'users / think time' if doc.workload.users else 'rps'} x "
            f"{horizon:g} s x {planned} replications), over the "
            f"limit of {limits.max_requests:.3g} (Limits.max_requests)",
        )
    else:
        events = requests * events_per_request(doc)
        if events > limits.max_events:
            err(
                "simulation.duration_s",
                f"the run would take about {events:.3g} events, over the limit "
                f"of {limits.max_events:.3g} (Limits.max_events)",
            )
    return errors
