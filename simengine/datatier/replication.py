"""Replication state: committed versions, what each replica has applied, failover.

The engine draws every write's replication lag (one per replica, from the document's
``replicas.lag_ms``) and hands them in; this module keeps the state that turns those
lags into the effects the report counts: stale reads, write latency by mode, lost
writes at failover, and multi-primary conflicts.

The model
---------
- A write to key ``k`` at time ``t`` gets the next version of ``k`` (1, 2, ...; 0 is
  the value before any write) and reaches replica ``r`` at ``t + lag_r``.
- ``mode`` says what the write waits for before it is acknowledged, and the version
  counts as *committed* when it is acknowledged (``MODE_WAIT``):
  ``async`` nothing (committed at ``t``); ``semi_sync`` the fastest live replica
  (``t + min lag``); ``sync`` every live replica (``t + max lag``). With no live
  replica, semi_sync and sync degrade to async (as MySQL's semi-sync does on timeout).
- A replica shows the newest version that has reached it (versions never go
  backwards on a replica). A read is stale when it returns an older version than the
  newest committed one. Reads from the primary are never stale.
- Staleness only needs the newest committed write: a replica is stale for ``k`` at
  ``now`` exactly when that write has not reached it yet.

Theory the tests check: writes to a key as a Poisson stream of rate ``w``, one async
replica with exponential lag of mean ``L``, reads at independent random times. A read
is stale iff the newest write, made ``A`` ago, has not arrived: ``lag > A`` with
``A ~ Exp(w)`` (the backward recurrence time of a Poisson stream) and
``lag ~ Exp(1/L)``, so ``P(stale) = P(lag > A) = w / (w + 1/L) = wL / (1 + wL)``.
Under async failover the promoted replica misses the writes still in flight, on
average ``w L`` of them (Little's law on the writes in flight); under sync none.

Memory
------
Per key: the newest version issued (4 bytes a key in a flat array when ``key_count``
is given, else a dict of the keys written) and, for keys written within the lag
horizon, a short list of records ``(version, commit_at, arrivals, all_arrived_at)``
(tuples of numbers, which the garbage collector stops tracking). A record is dropped
once a newer record has reached every live replica and is committed (it can never be
the answer again), so memory follows the keys written recently, not the number of
requests. ``prune(now)`` sweeps every key; call it now and then (each
snapshot) so keys never touched again are dropped too.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

MODES = ("async", "semi_sync", "sync")
_INF = math.inf


def mode_wait(mode: str, lags: Sequence[float]) -> float:
    """How long a write waits for replicas before it is acknowledged."""
    if not lags or mode == "async":
        return 0.0
    if mode == "semi_sync":
        return min(lags)
    if mode == "sync":
        return max(lags)
    raise ValueError(f"unknown replication mode {mode!r}; one of {MODES}")


@dataclass(frozen=True)
class FailoverResult:
    """What a primary fault did.

    ``lost_writes``: committed (acknowledged) writes the promoted replica had not
    received; their keys (``lost_keys``) went back to an older version.
    ``unacknowledged``: writes still waiting for replica acks; their clients see an
    error, nothing they were told was saved is lost. ``promoted`` is ``None`` when no
    replica was alive to promote.
    """

    promoted: int | None
    lost_writes: int
    lost_keys: int
    unacknowledged: int


#: (version, commit_at, arrival per replica slot, all_arrived_at)
_Record = tuple[int, float, tuple[float, ...], float]


class _Versions(dict):
    """key -> version; an absent key is at version 0 (nothing is inserted)."""

    __slots__ = ()

    def __missing__(self, key: int) -> int:
        return 0


def _versions(key_count: int | None) -> _Versions | array:
    if key_count is None:
        return _Versions()
    return array("I", bytes(4 * key_count))


class Replication:
    """One primary and ``replicas`` replica slots (0..n-1), with per-key versions.

    Contract for the engine: ``write(key, now, lags) -> (version, wait_s)``,
    ``read(replica, key, now) -> (version, stale)``, ``fail_primary(now)``.
    """

    __slots__ = (
        "_all_live",
        "_base",
        "_issued",
        "_live",
        "_mode",
        "_pending",
        "down",
        "lost_writes",
        "mode",
        "replicas",
        "stale_reads",
    )

    def __init__(
        self, replicas: int, mode: str = "async", key_count: int | None = None
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown replication mode {mode!r}; one of {MODES}")
        self.replicas = replicas
        self.mode = mode
        self._mode = MODES.index(mode)
        self.down: set[int] = set()
        self._live = list(range(replicas))
        self._all_live = True
        # key -> newest version issued, and key -> version applied everywhere: flat
        # arrays of 4 bytes a key when the key space is known, else dicts
        self._issued: _Versions | array = _versions(key_count)
        self._base: _Versions | array = _versions(key_count)
        # key -> [(version, commit_at, arrivals, all_arrived_at), ...], oldest first
        self._pending: dict[int, list[_Record]] = {}
        self.stale_reads = 0
        self.lost_writes = 0

    # --- writes ---------------------------------------------------------------------

    def write(self, key: int, now: float, lags: Sequence[float]) -> tuple[int, float]:
        """Record a write; ``lags[r]`` is its lag to replica slot ``r`` (seconds).

        Returns the new version and how long the write waits for replicas (add it to
        the write's latency). Lags of dead slots are ignored.
        """
        issued = self._issued
        v = issued[key] + 1
        issued[key] = v
        if self._all_live:
            live_lags = lags
            # a tuple of floats: the garbage collector stops tracking it
            arrivals = tuple(map(now.__add__, lags))
        else:
            live_lags = [lags[r] for r in self._live]
            got = [_INF] * self.replicas
            for r in self._live:
                got[r] = now + lags[r]
            arrivals = tuple(got)
        if live_lags:
            slowest = max(live_lags)
            mode = self._mode
            wait = 0.0 if mode == 0 else min(live_lags) if mode == 1 else slowest
            last = now + slowest
        else:
            wait = 0.0
            last = now
        commit = now + wait
        recs = self._pending.get(key)
        if recs is None:
            self._pending[key] = [(v, commit, arrivals, last)]
        else:
            recs.append((v, commit, arrivals, last))
            if len(recs) > 2:
                self._prune_key(key, recs, now)
        return v, wait

    # --- reads ----------------------------------------------------------------------

    def committed_version(self, key: int, now: float) -> int:
        """The newest acknowledged version of ``key`` at ``now`` (what the primary
        serves)."""
        recs = self._pending.get(key)
        if recs:
            for rec in reversed(recs):
                if rec[1] <= now:
                    return rec[0]
        return self._base[key]

    def version_at(self, replica: int, key: int, now: float) -> int:
        """The version replica slot ``replica`` shows for ``key`` at ``now``."""
        recs = self._pending.get(key)
        if recs:
            for rec in reversed(recs):
                if rec[2][replica] <= now:
                    return rec[0]
        return self._base[key]

    def is_stale(self, replica: int, key: int, now: float) -> bool:
        """True when the replica has not yet received the newest committed write."""
        recs = self._pending.get(key)
        if not recs:
            return False
        for rec in reversed(recs):
            if rec[1] <= now:  # the newest committed write
                return rec[2][replica] > now
        return False

    def read(self, replica: int | None, key: int, now: float) -> tuple[int, bool]:
        """A read from a replica slot (``None``: the primary): (version, stale).

        Stale reads are counted in ``stale_reads``.
        """
        if replica is None:
            return self.committed_version(key, now), False
        v = self.version_at(replica, key, now)
        if v < self.committed_version(key, now):
            self.stale_reads += 1
            return v, True
        return v, False

    # --- memory ---------------------------------------------------------------------

    def _prune_key(self, key: int, recs: list, now: float) -> None:
        # the newest record that is committed and everywhere makes the older ones moot
        for i in range(len(recs) - 1, -1, -1):
            rec = recs[i]
            if rec[3] <= now and rec[1] <= now:
                self._base[key] = rec[0]
                del recs[: i + 1]
                break
        if not recs:
            del self._pending[key]

    def prune(self, now: float) -> None:
        """Drop every record no read can return any more (O(keys written recently))."""
        for key, recs in list(self._pending.items()):
            self._prune_key(key, recs, now)

    def pending_keys(self) -> int:
        """Keys with writes not yet applied everywhere (the memory that grows)."""
        return len(self._pending)

    # --- faults ---------------------------------------------------------------------

    def replica_down(self, replica: int) -> None:
        """A replica dies: it stops receiving writes and counting in the waits."""
        self.down.add(replica)
        self._live = [r for r in range(self.replicas) if r not in self.down]
        self._all_live = not self.down

    def replica_up(self, replica: int, now: float) -> None:
        """A replica comes back, caught up (it resyncs before it takes reads)."""
        if replica not in self.down:
            return
        self.down.discard(replica)
        self._live = [r for r in range(self.replicas) if r not in self.down]
        self._all_live = not self.down
        for recs in self._pending.values():
            for i, (v, commit_at, arrivals, last) in enumerate(recs):
                if arrivals[replica] == _INF:
                    got = list(arrivals)
                    got[replica] = max(now, commit_at)
                    recs[i] = (v, commit_at, tuple(got), max(last, got[replica]))

    def lost_if_promoted(self, replica: int, now: float) -> tuple[int, set[int]]:
        """Committed writes replica slot ``replica`` has not received at ``now``."""
        lost = 0
        keys: set[int] = set()
        for key, recs in self._pending.items():
            for _, commit_at, arrivals, _ in recs:
                if commit_at <= now < arrivals[replica]:
                    lost += 1
                    keys.add(key)
        return lost, keys

    def fail_primary(self, now: float) -> FailoverResult:
        """The primary dies at ``now``: promote the most up-to-date live replica.

        Writes that had not reached it by ``now`` never will (the primary that had
        them is gone): they are lost and their keys revert to what the promoted
        replica has. The promoted slot stops being a replica (it is marked down);
        the other replicas follow the new primary from its state.
        Call it at the fault time; the engine stops writes for ``detect_s +
        promote_s`` itself.
        """
        unacked = sum(
            1 for recs in self._pending.values() for rec in recs if rec[1] > now
        )
        if not self._live:
            return FailoverResult(None, 0, 0, unacked)
        best, best_lost, best_keys = None, -1, set()
        for r in self._live:
            lost, keys = self.lost_if_promoted(r, now)
            if best is None or lost < best_lost:
                best, best_lost, best_keys = r, lost, keys
        assert best is not None
        for key in list(self._pending):
            self._base[key] = self.version_at(best, key, now)
        self._pending.clear()
        self.lost_writes += best_lost
        self.replica_down(best)
        return FailoverResult(best, best_lost, len(best_keys), unacked)


class MultiPrimary:
    """Several primaries taking writes; last writer wins.

    Two writes to one key on different primaries within ``sync_ms`` of each other are
    a conflict: neither saw the other, and the later one silently overwrites the
    earlier (last writer wins). ``write(key, primary, now)`` returns True for a write
    that conflicts with an earlier write on another primary within the window and
    counts it in ``conflicts``. Memory: keys written within the last ``sync_ms``.
    """

    __slots__ = ("_last", "conflicts", "primaries", "sync_s")

    def __init__(self, primaries: int, sync_ms: float) -> None:
        self.primaries = primaries
        self.sync_s = sync_ms / 1000.0
        self._last: dict[int, list[float]] = {}  # key -> last write time per primary
        self.conflicts = 0

    def write(self, key: int, primary: int, now: float) -> bool:
        times = self._last.get(key)
        if times is None:
            times = self._last[key] = [-_INF] * self.primaries
            times[primary] = now
            return False
        horizon = now - self.sync_s
        conflict = False
        for q, t in enumerate(times):
            if q != primary and t > horizon:
                conflict = True
                break
        times[primary] = now
        if conflict:
            self.conflicts += 1
        return conflict

    def prune(self, now: float) -> None:
        horizon = now - self.sync_s
        for key in [k for k, ts in self._last.items() if max(ts) <= horizon]:
            del self._last[key]


class ReadYourWrites:
    """Routes a client's reads to the primary until its last write is everywhere.

    ``wrote(client, until)`` records that the client's last write reaches every live
    replica at ``until`` (the record's all-arrived time, ``now + max(lags)``);
    ``needs_primary(client, now)`` is True before then. Memory: clients that wrote
    within the lag horizon (``prune``).
    """

    __slots__ = ("_until",)

    def __init__(self) -> None:
        self._until: dict[int, float] = {}

    def wrote(self, client: int, until: float) -> None:
        self._until[client] = until

    def needs_primary(self, client: int, now: float) -> bool:
        until = self._until.get(client)
        if until is None:
            return False
        if until <= now:
            del self._until[client]
            return False
        return True

    def prune(self, now: float) -> None:
        for c in [c for c, u in self._until.items() if u <= now]:
            del self._until[c]
