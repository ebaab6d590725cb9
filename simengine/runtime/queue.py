"""A queue between services (a message broker, Kafka/RabbitMQ-like).

A producer (a service through its ``calls``, or the clients through
``workload.target``) publishes a message and gets its answer after ``publish_ms``,
whatever the consumer does: it never waits for the message to be processed. The
broker hands at most ``concurrency`` messages at a time to the ``consumers``
service (each message a request to it, which may call its own dependencies); the
others wait in FCFS order. With ``capacity``, a full queue refuses a new message
(``when_full: reject``: the producer sees REJECTED) or discards its oldest waiting
message to make room (``drop_oldest``).

Measured as the stations are, without a clock per event: messages waiting
integrated over time from a sum of enqueue and dequeue times, and the age of the
oldest waiting message integrated piecewise (it grows linearly between the moments
the head of the queue changes).
"""

from __future__ import annotations

from collections import deque
from heapq import heappush
from typing import TYPE_CHECKING, Any

from ..document import Queue
from ..metrics import LatencyStats
from ..snapshot import UTILIZATION_NOTES
from ..variates import duration_sampler
from .component import Component
from .eventcalendar import NORMAL, OK, REJECTED, fire_pending

if TYPE_CHECKING:
    from ..document import Fault
    from .context import RunContext

_NO_LIMIT = 1 << 62
_SPILL = 262_144  # bound the end-to-end window list (as the driver does for ``lat``)


class Message:
    """A published message: waiting in the broker, or a request at its consumer."""

    __slots__ = ("inst", "pending", "q", "req", "t_pub")

    def resume(self, status: int) -> None:
        """The consumer finished the message (or failed it)."""
        self.q.consumed_done(self, status)


class QueueRt(Component):
    type = "queue"

    def __init__(self, ctx: RunContext, cid: str, spec: Queue) -> None:
        self.ctx = ctx
        self.env = ctx.env
        self.id = cid
        self.spec = spec
        # the queue's own stream: created only when a document has a queue
        self.publish_time = duration_sampler(spec.publish_ms, ctx.streams.generator())
        self.concurrency = spec.concurrency
        self.capacity = _NO_LIMIT if spec.capacity is None else spec.capacity
        self.drop_oldest = spec.when_full == "drop_oldest"
        self.consumer: Any = None
        self.delay = 0.0
        self.waiting: deque[Message] = deque()
        self.busy = 0  # messages at the consumer
        # time integrals: messages waiting (sum of dequeue - enqueue times), and
        # the oldest waiting message's age (up to ``lag_last``)
        self.d_base = 0.0
        self.lag_area = 0.0
        self.lag_last = 0.0
        self.depth_max = 0
        self.lag_max = 0.0
        # the waits (time in the broker, publish to hand-over): ``latency_ms``
        self.lat = LatencyStats()
        self.wait_append = self.lat.values.append
        self.e2e = LatencyStats()  # publish to consumer finished
        self.e2e_values = self.e2e.values
        # cumulative counts, differenced per window
        self.published = self.rejected = self.dropped = 0
        self.consumed = self.failed = 0
        self.prev = (0, 0, 0, 0, 0, 0.0, 0.0)
        self.total = [0, 0, 0, 0, 0, 0.0, 0.0]
        self._ack_cb = self._ack
        self._nack_cb = self._nack

    def link(self, ctx: RunContext) -> None:
        self.consumer = ctx.components[self.spec.consumers]
        self.delay = ctx.delay(self.spec.region, ctx.spec(self.spec.consumers).region)
        # messages of this queue at each consumer instance (by station uid): the
        # consumers pull, so a message goes to the instance with the fewest
        self.inflight = [0] * ctx.uid_count

    # --- messages ----------------------------------------------------------------------
    def call(self, req: Any, parent: Any) -> None:
        """A publish: the message is queued (or handed over) now; the producer gets
        its answer after ``publish_ms``."""
        env = self.env
        now = env._now
        self.published += 1
        waiting = self.waiting
        if self.busy < self.concurrency:
            self.busy += 1
            msg = Message()
            msg.q = self
            msg.req = req
            msg.t_pub = now
            self.wait_append(0.0)
            self._send(msg)
        else:
            if len(waiting) >= self.capacity:
                if not self.drop_oldest:
                    self.rejected += 1
                    heappush(
                        env._queue,
                        (
                            now + self.publish_time(),
                            NORMAL,
                            next(env._eid),
                            self._nack_cb,
                            parent,
                        ),
                    )
                    return
                self._touch_lag(now)
                old = waiting.popleft()
                self.d_base += now
                self.dropped += 1
                if now - old.t_pub > self.lag_max:
                    self.lag_max = now - old.t_pub
            msg = Message()
            msg.q = self
            msg.req = req
            msg.t_pub = now
            if not waiting:
                self.lag_last = now  # the new head's age starts at 0
            waiting.append(msg)
            self.d_base -= now
            if len(waiting) > self.depth_max:
                self.depth_max = len(waiting)
        heappush(
            env._queue,
            (now + self.publish_time(), NORMAL, next(env._eid), self._ack_cb, parent),
        )

    @staticmethod
    def _ack(parent: Any) -> None:
        parent.resume(OK)

    @staticmethod
    def _nack(parent: Any) -> None:
        parent.resume(REJECTED)

    def _send(self, msg: Message) -> None:
        """Hand a message to the consumer instance with the fewest of this queue's
        messages (the first such in order): consumers pull when they have room."""
        active = self.consumer.active
        if active:
            inflight = self.inflight
            target = active[0]
            least = inflight[target.uid]
            for inst in active:
                if inflight[inst.uid] < least:
                    target, least = inst, inflight[inst.uid]
            inflight[target.uid] = least + 1
        else:
            target = self.consumer  # no instance: the service refuses it
        msg.inst = target
        if self.delay:
            env = self.env
            msg.pending = target
            heappush(
                env._queue,
                (env._now + self.delay, NORMAL, next(env._eid), fire_pending, msg),
            )
        else:
            target.call(msg.req, msg)

    def consumed_done(self, msg: Message, status: int) -> None:
        now = self.env._now
        inst = msg.inst
        if inst is not self.consumer:
            self.inflight[inst.uid] -= 1
        if status == OK:
            self.consumed += 1
            self.e2e_values.append(now - msg.t_pub)
            if len(self.e2e_values) >= _SPILL:
                self.e2e.maybe_spill()
        else:
            self.failed += 1  # not redelivered
        waiting = self.waiting
        if waiting:
            self._touch_lag(now)
            nxt = waiting.popleft()
            self.d_base += now
            wait = now - nxt.t_pub
            self.wait_append(wait)
            if wait > self.lag_max:
                self.lag_max = wait
            self._send(nxt)
        else:
            self.busy -= 1

    def _touch_lag(self, now: float) -> None:
        """Bring the oldest message's age integral up to ``now`` (before the head of
        the queue changes)."""
        self.lag_area = self._lag_area(now)
        self.lag_last = now

    def _lag_area(self, now: float) -> float:
        waiting = self.waiting
        if not waiting:
            return self.lag_area
        last = self.lag_last
        return self.lag_area + (now - last) * ((now + last) / 2 - waiting[0].t_pub)

    def apply_fault(self, fault: Fault, down: bool) -> None:
        # the document refuses faults on a queue (checks.faults: no fault check)
        raise ValueError(f"queue {self.id} takes no faults")

    # --- metrics -----------------------------------------------------------------------
    def _oldest_age(self, now: float) -> float:
        return now - self.waiting[0].t_pub if self.waiting else 0.0

    def window(self, now: float, dt: float, measured: bool) -> dict[str, Any]:
        cur = (
            self.published,
            self.consumed,
            self.rejected,
            self.dropped,
            self.failed,
            self.d_base + len(self.waiting) * now,
            self._lag_area(now),
        )
        if measured:
            total = self.total
            for i, (a, b) in enumerate(zip(cur, self.prev, strict=True)):
                total[i] += a - b
            self.lag_max = max(self.lag_max, self._oldest_age(now))
        d_consumed = cur[1] - self.prev[1]
        self.prev = cur
        self.lat.close_window(measured)
        self.e2e.close_window(measured)
        return {
            "utilization": None,  # the broker has no capacity of its own
            "throughput_rps": d_consumed / dt if dt > 0 else 0.0,
            "depth": len(self.waiting),
            "lag_ms": self._oldest_age(now) * 1000.0,
        }

    def start_measuring(self, now: float) -> None:
        self.depth_max = len(self.waiting)
        self.lag_max = self._oldest_age(now)

    def report(self, duration: float, end: float) -> dict[str, Any]:
        published, consumed, rejected, dropped, failed, depth_area, lag_area = (
            self.total
        )
        waits = self.lat.summary_ms()
        per_s = 1.0 / duration if duration > 0 else 0.0
        return {
            "type": "queue",
            "utilization": None,  # the broker has no capacity of its own
            "utilization_note": UTILIZATION_NOTES["queue"],
            "throughput_rps": consumed * per_s,
            "queue_mean": depth_area * per_s,
            "latency_ms": waits,
            "rejected": rejected,
            "errors": failed,
            "published": published,
            "consumed": consumed,
            "dropped": dropped,
            "depth": {"mean": depth_area * per_s, "max": self.depth_max},
            "consumer_lag_ms": {
                "mean": lag_area * per_s * 1000.0,
                "max": max(self.lag_max, self._oldest_age(end)) * 1000.0,
                "wait_mean": waits["mean"],
            },
            "end_to_end_ms": self.e2e.summary_ms(),
            "concurrency": self.concurrency,
            "waiting_at_end": len(self.waiting),
        }
