"""The worker's side of live what-if: feeding injections to a simulation, and pacing.

A viewer's injection is a `RunInjection` row (`services_whatif.run_inject`). Every
replication of the run asks `part_feed(...)` at each snapshot boundary; the feed
reads new rows (at most every `WHATIF_POLL_S` of wall time) and hands them to the
engine (`simengine.whatif`), which applies them there and logs an ``injected``
event. The first replication to take an injection records the simulated time it
landed at (`landed_t_s`, a conditional update); every other replication applies it
at that same time, or at once when it is already past it. Where each replication
applied it is in its event log, and "Run again" feeds exactly that back
(`replay_events`), so the report comes out the same, byte for byte.

A paced run (`Run.pace`, simulated seconds per wall second) waits at each boundary
until the wall clock has caught up (`Pacer`), so people can watch it and steer it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import simengine
from dashboard.runs.models import RunInjection

#: How often (wall time) a replication looks for new injections.
WHATIF_POLL_S = 0.25
#: The longest a paced run sleeps between two looks at `tick` (heartbeat, cancel).
PACE_SLICE_S = 0.25


class _PartFeed:
    def __init__(
        self, run_id: uuid.UUID, replication: int, replay_events: list[dict[str, Any]]
    ) -> None:
        self.run_id = run_id
        self.replication = replication
        self.replay = simengine.replay_feed(replay_events) if replay_events else None
        self.last_id = 0
        self.last_poll = -float("inf")
        self.due: list[tuple[float, int, dict[str, Any]]] = []  # (t_s, id, spec)

    def __call__(self, replication: int, t_s: float) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self.replay is not None:
            out.extend(self.replay(replication, t_s))
        now = time.monotonic()
        if now - self.last_poll >= WHATIF_POLL_S:
            self.last_poll = now
            self._poll(t_s)
        if self.due:
            ready = [d for d in self.due if d[0] <= t_s]
            if ready:
                self.due = [d for d in self.due if d[0] > t_s]
                out.extend(spec for _, _, spec in sorted(ready))
        return out

    def _poll(self, t_s: float) -> None:
        rows = RunInjection.objects.filter(run_id=self.run_id, id__gt=self.last_id)
        for row in rows.only("id", "spec", "landed_t_s").order_by("id"):
            self.last_id = row.id
            landed = row.landed_t_s
            if landed is None:
                took = RunInjection.objects.filter(
                    pk=row.pk, landed_t_s__isnull=True
                ).update(landed_t_s=t_s)
                if took:
                    landed = t_s
                else:  # another replication took it a moment ago
                    landed = (
                        RunInjection.objects.filter(pk=row.pk)
                        .values_list("landed_t_s", flat=True)
                        .first()
                    )
            # applied at its landing time, or now when that is past (or unknown)
            at = t_s if landed is None or landed < t_s else landed
            self.due.append((at, row.id, dict(row.spec)))


def part_feed(
    *,
    run_id: uuid.UUID,
    replication: int,
    replay_events: list[dict[str, Any]] | None = None,
) -> simengine.Feed:
    """The feed one replication of a run gives the engine (`simulate(feed=...)` or
    `run_replication(feed=...)`): the replayed events of a "Run again", and the
    injections viewers make while it runs."""
    return _PartFeed(run_id, replication, list(replay_events or []))


class Pacer:
    """Holds a run to `pace` simulated seconds per wall second.

    `wait(t_s, tick)` returns once `t_s / pace` wall seconds have passed since the
    pacer was made, calling `tick()` at least every `PACE_SLICE_S` meanwhile (the
    heartbeat, which also notices a cancel: a True from it returns at once). With
    no pace it returns at once.
    """

    def __init__(self, pace: float | None) -> None:
        self.pace = pace if pace and pace > 0 else None
        self.start = time.monotonic()

    def wait(self, t_s: float, tick: Callable[[], bool]) -> None:
        if self.pace is None:
            return
        until = self.start + t_s / self.pace
        while True:
            left = until - time.monotonic()
            if left <= 0 or tick():
                return
            time.sleep(min(left, PACE_SLICE_S))
