"""Limits that keep one document from exhausting a worker (reliability rows 7-9)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Upper bounds checked by :func:`simengine.parse_document` (and the event budget,
    enforced while a run goes). Every limit is named in the error it causes.
    """

    #: Size of the document text, in bytes (UTF-8).
    max_bytes: int = 1_000_000
    #: Nesting depth of mappings and lists (checked before the full parse).
    max_depth: int = 32
    #: Nodes (mappings, lists and scalars) in the document, YAML aliases expanded.
    max_nodes: int = 200_000
    #: Components in ``components``.
    max_components: int = 200
    #: Instances over all components (service autoscale maxima, balancer instances,
    #: database and cache nodes).
    max_instances: int = 10_000
    #: ``workload.keys.count``.
    max_keys: int = 100_000_000
    #: ``workload.clients``.
    max_clients: int = 100_000_000
    #: ``workload.users.count`` and every phase's ``users`` (a closed workload).
    max_users: int = 1_000_000
    #: Expected requests of the whole run: mean rate x (warm-up + duration) x
    #: replications.
    max_requests: int = 200_000_000
    #: Simulation events of the whole run, all replications together. Checked up
    #: front from an estimate, and enforced while running (``BudgetExceeded``).
    max_events: int = 2_000_000_000
    #: Snapshots (windows) per replication: (warm-up + duration) / snapshot_s.
    max_snapshots: int = 20_000
    #: ``simulation.replications``.
    max_replications: int = 100
    #: Entries in ``workload.phases`` and in ``faults``.
    max_list_items: int = 1_000
