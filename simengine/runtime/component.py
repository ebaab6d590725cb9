"""The contract every component kind implements, with do-nothing defaults.

A kind's module owns its whole life: ``__init__`` builds it from its document model,
``link`` resolves the ids it refers to, ``processes`` are the SimPy processes it
needs (health checks, autoscaling, flushes, rebalancing), ``apply_fault`` takes a
scheduled fault, ``window`` and ``report`` measure it. The driver (``sim.Sim``)
reaches a kind only through this contract and the registry (``registry.RUNTIMES``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from ..document import Fault
    from ..metrics import LatencyStats
    from ..snapshot import ComponentWindow
    from .context import RunContext


class Component(ABC):
    """Base of the runtime of one component of the document."""

    type: ClassVar[str] = ""
    #: True: requests must carry a client number (sessions, ip_hash, geo, ...).
    needs_clients: bool = False
    #: True: requests must name a key (caches, replicas, shards).
    needs_keys: bool = False
    #: The latencies this component records, bounded by the driver's spills.
    lat: LatencyStats | None = None
    #: The waits for a core a station records (spilled like ``lat``).
    waits: LatencyStats | None = None
    id: str

    @abstractmethod
    def call(self, req: Any, parent: Any) -> None:
        """Serve ``req``; answer later with ``parent.resume(status)``."""

    def link(self, ctx: RunContext) -> None:  # noqa: B027 (optional hook)
        """Resolve the components this one calls (after all are built)."""

    def processes(self) -> Iterator[Generator[Any, Any, Any]]:
        """The SimPy processes this component runs, in a fixed order."""
        return iter(())

    @abstractmethod
    def apply_fault(self, fault: Fault, down: bool) -> None:
        """A scheduled fault starts (``down``) or ends. Every kind takes its own:
        the document refuses a fault a kind cannot apply, so none is ignored."""

    def start_measuring(self, now: float) -> None:  # noqa: B027
        """The warm-up ends at ``now``."""

    @abstractmethod
    def window(self, now: float, dt: float, measured: bool) -> ComponentWindow:
        """Close a window of ``dt`` simulated seconds ending at ``now``."""

    @abstractmethod
    def report(self, duration: float, end: float) -> dict[str, Any]:
        """The component's entry in the report (``end``: the horizon)."""
