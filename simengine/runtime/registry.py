"""The registry: a component's ``type`` (the document's vocabulary) -> its runtime.

A new component kind is one module in this package (a ``component.Component``) and
one entry here; ``tests/engine/test_runtime_layout.py`` checks that every type of
the document has one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..document import Database
from .cache import CacheRt
from .cdn import CdnRt
from .component import Component
from .context import RunContext
from .database import DatabaseRt
from .edge import balancer_runtime
from .queue import QueueRt
from .service import ServiceRt
from .sharded import ShardedDatabaseRt


def database_runtime(ctx: RunContext, cid: str, spec: Database) -> Component:
    """One database, or a sharded one when it has more than one shard (or will)."""
    sh = spec.shards
    if sh is not None and (sh.count > 1 or sh.rebalance is not None):
        return ShardedDatabaseRt(ctx, cid, spec)
    return DatabaseRt(ctx, cid, spec)


RUNTIMES: dict[str, Callable[[RunContext, str, Any], Component]] = {
    "load_balancer": balancer_runtime,
    "service": ServiceRt,
    "cache": CacheRt,
    "database": database_runtime,
    "queue": QueueRt,
    "cdn": CdnRt,
}
