"""The topology document, format 1: frozen pydantic models, parsing and validation.

``parse_document`` is the only way in: it checks size and nesting depth before any
parser runs (``loading``), parses YAML or JSON, validates every field (unknown fields
are errors, ``messages`` words them), then checks references, cycles, faults and
limits (``checks``). Every failure is a ``DocumentError`` whose ``errors`` name the
field path, e.g. ``components.web.instances: must be >= 1 (got 0)``, all of them in
one pass. The vocabularies (component types, algorithms, distributions...) live in
``vocabulary``, once.
"""

from __future__ import annotations

from ..errors import DocumentError, FieldError
from ..limits import Limits
from .budget import events_per_request, expected_requests
from .checks import check_document
from .components import (
    MODEL_OF_TYPE,
    Autoscale,
    Breaker,
    Cache,
    Call,
    Cdn,
    Component,
    Database,
    Failover,
    HealthCheck,
    LoadBalancer,
    Primary,
    Queue,
    Rebalance,
    Replicas,
    Scaling,
    Service,
    Shards,
    call_target,
)
from .fields import (
    ID_RE,
    Distribution,
    Duration,
    ReadWriteWork,
    Work,
    as_distribution,
)
from .loading import json_depth
from .models import (
    FORMAT_VERSION,
    Bursty,
    Document,
    Fault,
    Keys,
    LatencyObjectives,
    Network,
    Objectives,
    Phase,
    Retry,
    Simulation,
    Users,
    Workload,
    document_schema,
)
from .parsing import load_document_tree, parse_document
from .vocabulary import (
    ARRIVALS,
    CACHE_STRATEGIES,
    COMPONENT_TYPES,
    DATABASE_FAULT_NODES,
    DISTRIBUTIONS,
    EVICTIONS,
    INVALIDATIONS,
    LB_ALGORITHMS,
    LB_LAYERS,
    QUEUE_FULL_POLICIES,
    READ_ROUTING,
    REPLICA_MODES,
    SHARD_STRATEGIES,
    VOCABULARY,
)

__all__ = [
    "ARRIVALS",
    "CACHE_STRATEGIES",
    "COMPONENT_TYPES",
    "DATABASE_FAULT_NODES",
    "DISTRIBUTIONS",
    "EVICTIONS",
    "FORMAT_VERSION",
    "ID_RE",
    "INVALIDATIONS",
    "LB_ALGORITHMS",
    "LB_LAYERS",
    "MODEL_OF_TYPE",
    "QUEUE_FULL_POLICIES",
    "READ_ROUTING",
    "REPLICA_MODES",
    "SHARD_STRATEGIES",
    "VOCABULARY",
    "Autoscale",
    "Breaker",
    "Bursty",
    "Cache",
    "Call",
    "Cdn",
    "Component",
    "Database",
    "Distribution",
    "Document",
    "DocumentError",
    "Duration",
    "Failover",
    "Fault",
    "FieldError",
    "HealthCheck",
    "Keys",
    "LatencyObjectives",
    "Limits",
    "LoadBalancer",
    "Network",
    "Objectives",
    "Phase",
    "Primary",
    "Queue",
    "ReadWriteWork",
    "Rebalance",
    "Replicas",
    "Retry",
    "Scaling",
    "Service",
    "Shards",
    "Simulation",
    "Users",
    "Work",
    "Workload",
    "as_distribution",
    "call_target",
    "check_document",
    "document_schema",
    "events_per_request",
    "expected_requests",
    "json_depth",
    "load_document_tree",
    "parse_document",
]
