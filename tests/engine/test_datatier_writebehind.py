"""Write-behind buffers: a cache-node fault loses exactly the unflushed writes."""

from __future__ import annotations

import numpy as np

from simengine.datatier import HashRing, WriteBehind


def test_a_node_fault_loses_exactly_the_writes_since_its_last_flush():
    nodes, interval = 3, 1.0
    rng = np.random.default_rng(1)
    times = np.cumsum(rng.exponential(1 / 500.0, 20_000)).tolist()  # ~40 s
    keys = rng.integers(0, 2_000, 20_000).tolist()
    ring = HashRing(range(nodes))
    wb = WriteBehind(nodes, interval)
    fault_at, dead = 23.4567, 1
    backing: dict[int, int] = {}
    version: dict[int, int] = {}
    next_flush = wb.next_flush(0.0)
    lost = None
    for t, key in zip(times, keys, strict=True):
        while next_flush <= t:
            if lost is None and next_flush > fault_at:
                lost = wb.fail(dead)
            for node in range(nodes):
                backing.update(wb.flush(node))
            next_flush = wb.next_flush(next_flush)
        if lost is None and t > fault_at:
            lost = wb.fail(dead)
        node = ring.node_for(key)
        if lost is not None and node == dead:
            continue  # the dead node takes no writes
        version[key] = version.get(key, 0) + 1
        wb.write(node, key, version[key])
    # brute force: writes to the dead node after its last flush before the fault
    last_flush = np.floor(fault_at / interval) * interval
    expected = sum(
        1
        for t, key in zip(times, keys, strict=True)
        if last_flush < t <= fault_at and ring.node_for(key) == dead
    )
    assert lost == wb.lost_writes == expected > 0
    for node in range(nodes):
        backing.update(wb.flush(node))
    total_writes = sum(version.values())
    assert wb.flushed_writes + wb.lost_writes == total_writes


def test_writes_to_one_key_between_flushes_reach_the_backing_store_once():
    wb = WriteBehind(1, 5.0)
    for v in range(1, 6):
        wb.write(0, 42, v)
    wb.write(0, 7, 1)
    assert wb.pending(0) == 6
    assert wb.pending_version(0, 42) == 5
    assert wb.flush(0) == {42: 5, 7: 1}
    assert (wb.flushed_writes, wb.flushed_batches, wb.pending(0)) == (6, 2, 0)
    assert wb.flush(0) == {}
    assert wb.fail(0) == 0


def test_flushes_happen_on_the_interval_grid():
    wb = WriteBehind(2, 0.5)
    assert wb.next_flush(0.0) == 0.5
    assert wb.next_flush(0.5) == 1.0
    assert wb.next_flush(1.2) == 1.5
