"""Load-balancing algorithms: one small class each, behind one contract.

A strategy sees the balancer's *eligible* instances (in the pool, and healthy as far
as the balancer's health checks know). ``reset(eligible)`` is called whenever that
list changes (rare: faults, health, autoscaling); ``pick(req)`` chooses an instance
for a request (hot path); ``done(inst, elapsed_s)`` is told when a request returns.
The balancer keeps ``active[uid]``: requests it has outstanding on each instance.

Adding an algorithm is one class here and one entry in ``STRATEGIES``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, Protocol


class Target(Protocol):
    """What a strategy knows of an instance: its id (an index into ``active``),
    the service it belongs to (weights are per service) and whether it is up."""

    uid: int
    service_name: str
    up: bool


Instance = Target  # the strategies' name for the instances they choose among


class Strategy(ABC):
    """The contract. ``active`` is shared with the balancer (indexed by uid)."""

    name: ClassVar[str] = ""

    def __init__(
        self,
        active: list[int],
        uniform: Callable[[], float],
        weights: dict[str, float],
    ) -> None:
        self.active = active
        self.uniform = uniform
        self.weights = weights  # per target service name
        self.eligible: list[Instance] = []

    def reset(self, eligible: list[Instance], pool: list[Instance]) -> None:
        self.eligible = list(eligible)
        self.pool = list(pool)

    @abstractmethod
    def pick(self, req: Any) -> Instance:
        """The instance this request goes to (from ``self.eligible``)."""

    def done(self, inst: Instance, elapsed_s: float) -> None:  # noqa: B027 (optional)
        """Hook for algorithms that learn from responses."""


class RoundRobin(Strategy):
    name = "round_robin"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.next = 0

    def reset(self, eligible: list[Instance], pool: list[Instance]) -> None:
        super().reset(eligible, pool)
        self.next %= max(len(self.eligible), 1)

    def pick(self, req: Any) -> Instance:
        eligible = self.eligible
        i = self.next
        if i >= len(eligible):
            i = 0
        self.next = i + 1
        return eligible[i]


class WeightedRoundRobin(Strategy):
    """Smooth weighted round robin (as nginx): even spacing, exact proportions."""

    name = "weighted_round_robin"

    def reset(self, eligible: list[Instance], pool: list[Instance]) -> None:
        super().reset(eligible, pool)
        self.w = [self.weights.get(inst.service_name, 1.0) for inst in self.eligible]
        self.total = sum(self.w)
        self.current = [0.0] * len(self.w)

    def pick(self, req: Any) -> Instance:
        current = self.current
        w = self.w
        best = 0
        best_value = -1e300
        for i in range(len(current)):
            v = current[i] + w[i]
            current[i] = v
            if v > best_value:
                best_value = v
                best = i
        current[best] -= self.total
        return self.eligible[best]


class LeastConnections(Strategy):
    """Fewest outstanding requests; ties broken by a rotating start."""

    name = "least_connections"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.start = 0

    def pick(self, req: Any) -> Instance:
        eligible = self.eligible
        n = len(eligible)
        active = self.active
        s = self.start = (self.start + 1) % n
        best = eligible[s]
        best_value = active[best.uid]
        if best_value:
            for j in range(1, n):
                inst = eligible[(s + j) % n]
                v = active[inst.uid]
                if v < best_value:
                    best, best_value = inst, v
                    if not v:
                        break
        return best


class LeastResponseTime(Strategy):
    """Lowest (outstanding + 1) x smoothed response time (as nginx's least_time)."""

    name = "least_response_time"
    alpha = 0.1

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.ewma: dict[int, float] = {}
        self.start = 0

    def pick(self, req: Any) -> Instance:
        eligible = self.eligible
        n = len(eligible)
        active = self.active
        ewma = self.ewma
        s = self.start = (self.start + 1) % n
        best = eligible[s]
        best_value = (active[best.uid] + 1) * ewma.get(best.uid, 0.0)
        for j in range(1, n):
            inst = eligible[(s + j) % n]
            v = (active[inst.uid] + 1) * ewma.get(inst.uid, 0.0)
            if v < best_value:
                best, best_value = inst, v
        return best

    def done(self, inst: Instance, elapsed_s: float) -> None:
        old = self.ewma.get(inst.uid)
        self.ewma[inst.uid] = (
            elapsed_s if old is None else old + self.alpha * (elapsed_s - old)
        )


class IpHash(Strategy):
    """The client picks the instance (a multiplicative hash of the client number);
    if that instance is not eligible the next eligible one in pool order takes it."""

    name = "ip_hash"

    def reset(self, eligible: list[Instance], pool: list[Instance]) -> None:
        super().reset(eligible, pool)
        self.ok = {inst.uid for inst in self.eligible}
        self.all_ok = len(self.ok) == len(self.pool)

    def pick(self, req: Any) -> Instance:
        pool = self.pool
        n = len(pool)
        i = ((req.client * 2_654_435_761) & 0xFFFFFFFF) % n
        if self.all_ok:
            return pool[i]
        ok = self.ok
        for j in range(n):
            inst = pool[(i + j) % n]
            if inst.uid in ok:
                return inst
        return self.eligible[0]


class Random(Strategy):
    name = "random"

    def pick(self, req: Any) -> Instance:
        eligible = self.eligible
        return eligible[int(self.uniform() * len(eligible))]


class PowerOfTwo(Strategy):
    """Two random choices, the one with fewer outstanding requests wins."""

    name = "power_of_two"

    def pick(self, req: Any) -> Instance:
        eligible = self.eligible
        n = len(eligible)
        if n == 1:
            return eligible[0]
        a = eligible[int(self.uniform() * n)]
        j = int(self.uniform() * (n - 1))
        b = eligible[j if eligible[j] is not a else n - 1]
        return a if self.active[a.uid] <= self.active[b.uid] else b


class PowerOfD(Strategy):
    """``d`` independent random choices (with replacement, as in the supermarket
    model), the one with the fewest outstanding requests wins (the first on a tie)."""

    name = "power_of_d"
    d = 3

    def pick(self, req: Any) -> Instance:
        eligible = self.eligible
        n = len(eligible)
        if n == 1:
            return eligible[0]
        active = self.active
        uniform = self.uniform
        best = eligible[int(uniform() * n)]
        least = active[best.uid]
        for _ in range(self.d - 1):
            other = eligible[int(uniform() * n)]
            if active[other.uid] < least:
                best, least = other, active[other.uid]
        return best


STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls
    for cls in (
        RoundRobin,
        WeightedRoundRobin,
        LeastConnections,
        LeastResponseTime,
        IpHash,
        Random,
        PowerOfTwo,
        PowerOfD,
    )
}
