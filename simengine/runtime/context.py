"""What every component of one replication shares: the calendar, the random
streams, the warm-up, instance ids and the network between components."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..document import Document
from ..snapshot import Event
from ..variates import Streams
from .eventcalendar import Calendar

if TYPE_CHECKING:
    from .component import Component


def plural(count: int, noun: str) -> str:
    """ "1 write", "2 writes": for the event log's sentences."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


class RunContext:
    """One replication's shared state; components keep a reference to it.

    ``components`` maps id -> runtime once every component is built, so ``link``
    can resolve references. Random streams are handed out in the order components
    ask for them: building and linking happen in document order, which keeps a
    seed's report the same.
    """

    def __init__(self, doc: Document, seed: int, replication: int) -> None:
        self.doc = doc
        self.env = Calendar()
        self.streams = Streams(seed, replication)
        sim = doc.simulation
        self.warmup = sim.warmup_s
        self.duration = sim.duration_s
        self.horizon = self.warmup + self.duration
        self.uid_count = 0
        self.replication = replication
        self.warnings: list[str] = []
        self.event_log: list[Event] = []
        self.components: dict[str, Component] = {}

    def event(self, kind: str, component: str | None, text: str, **extra: Any) -> None:
        """Log that ``kind`` happened now (``snapshot.EVENT_KINDS``)."""
        entry: Event = {
            "t_s": self.env.now,
            "replication": self.replication,
            "kind": kind,
            # a shard of a sharded database runs as "<id>/shard-N": the document's id
            "component": None if component is None else component.split("/", 1)[0],
            "text": text,
            **extra,  # type: ignore[typeddict-item]
        }
        self.event_log.append(entry)

    def new_uid(self) -> int:
        """A new station id (an index into a balancer's per-instance counters)."""
        self.uid_count += 1
        return self.uid_count - 1

    def delay(self, a: str | None, b: str | None) -> float:
        """Network delay of one call from region ``a`` to region ``b``, seconds."""
        net = self.doc.network
        d = net.hop_ms
        if a is not None and b is not None and a != b:
            d += net.cross_region_ms
        return d / 1000.0

    def spec(self, cid: str) -> Any:
        """The document's model of component ``cid``."""
        return self.doc.components[cid]
