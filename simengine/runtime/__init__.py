"""The runtime: plain-Python stations driven by callbacks on SimPy's event calendar.

One module per component kind, each owning its whole life (build, link, processes,
faults, window metrics, report) behind ``component.Component``; ``registry`` maps a
document ``type`` to its runtime; ``sim.Sim`` drives one replication. See
docs/engine.md ("Where things live") for the map.
"""

from __future__ import annotations

from .component import Component
from .context import RunContext
from .registry import RUNTIMES
from .sim import Counts, Sim

__all__ = ["RUNTIMES", "Component", "Counts", "RunContext", "Sim"]
