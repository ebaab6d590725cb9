"""The event calendar: SimPy's, with entries that carry their own handler.

The calendar is SimPy's (``env._queue``, the heap ``env.schedule`` pushes to), but
its entries carry their own handler: ``(time, priority, id, handler, arg)``, and
popping one calls ``handler(arg)`` (see :class:`Calendar`). A station pushes
``(end, NORMAL, id, instance._finish, visit)`` when a job starts: the waiting object
(a client request, a visit to a server, a visit to a balancer) is the argument, and
no event object, callback list or generator exists per request. SimPy's own events
are scheduled as ``(..., fire_event, event)``, so ordinary SimPy processes run
unchanged beside the stations; they are kept for rare logic (rate changes, faults,
health checks, autoscaling). The driver steps the calendar itself. This relies on
SimPy 4's ``Environment`` internals (``_queue``, ``_eid``, ``_now``), which the
pinned version (4.1.2) has; tests/engine cover every path that uses them.

A caller hands work to a component with ``component.call(req, parent)``; the component
answers later with ``parent.resume(status)``. ``status`` is one of OK, ERROR,
REJECTED (queue or connection limit: a 503) and DEAD (the instance is down: a refused
connection, which a balancer may retry elsewhere; anyone else sees an error).
"""

from __future__ import annotations

from heapq import heappop, heappush
from typing import Any

import simpy

OK, ERROR, REJECTED, DEAD = 0, 1, 2, 3
#: A balancer's rate limit refused the request (429): the client counts it as
#: rejected and as rate limited (``runtime.edge``); only rate-limited runs see it.
LIMITED = 4
URGENT, NORMAL = simpy.core.URGENT, simpy.core.NORMAL


def fire_event(event: simpy.events.Event) -> None:
    """Process a SimPy event: the body of ``simpy.Environment.step`` after the pop."""
    callbacks, event.callbacks = event.callbacks, None
    for callback in callbacks:
        callback(event)
    if not event._ok and not hasattr(event, "_defused"):
        exc = type(event._value)(*event._value.args)
        exc.__cause__ = event._value
        raise exc


class Calendar(simpy.Environment):
    """A SimPy environment whose calendar entries carry their handler.

    Entries are ``(time, priority, id, handler, arg)``: popping one calls
    ``handler(arg)``. SimPy's own events (timeouts, processes) are scheduled through
    :meth:`schedule` as ``(..., fire_event, event)``, so processes run unchanged;
    the stations push their own entries with a bound method and the visit, with no
    event object and no callback list per job.
    """

    def schedule(
        self,
        event: simpy.events.Event,
        priority: int = NORMAL,
        delay: float = 0,
    ) -> None:
        heappush(
            self._queue,
            (self._now + delay, priority, next(self._eid), fire_event, event),
        )

    def step(self) -> None:
        try:
            self._now, _, _, handler, arg = heappop(self._queue)
        except IndexError:
            raise simpy.core.EmptySchedule from None
        handler(arg)


def fire_pending(ev: Any) -> None:
    """A delayed call arrives: ``pending`` is the callee, ``ev`` the caller."""
    ev.pending.call(ev.req, ev)


def fire_entry(ev: Any) -> None:
    """A request that is its own parent (a client request, a replicated write)
    reaches ``pending``."""
    ev.pending.call(ev, ev)


class Boundary(Exception):
    """Raised at a window boundary to hand control back to the driver loop."""


def raise_boundary(_: Any) -> None:
    raise Boundary


class Relay:
    """Carries a call across a network delay for components without a station."""

    __slots__ = ("parent", "pending", "req")

    def resume(self, status: int) -> None:
        self.parent.resume(status)
