"""The two baselines of bench/engine.py, importable without simengine.

(a) idiomatic SimPy: one process per request, ``simpy.Resource`` per server;
(b) a minimal heapq event loop: the pure-Python floor.
Both draw variates with the standard library's ``random.expovariate`` and keep every
request's latency in a list (the engine computes percentiles; so must they).

    python bench/baselines.py simpy|heapq mm4|network REQUESTS   # as a command
"""

from __future__ import annotations

import heapq
import random
import sys
from collections import deque

import simpy

# Reference models -------------------------------------------------------------------
# M/M/4: arrival rate 3.2/s, exponential work mean 1 s per core -> 80% utilization.
MM4 = {"rate": 3.2, "cores": 4, "mean_s": 1.0}
# Network: 900 rps -> round robin over 3 servers x 4 cores (work mean 10 ms: 75%)
# -> database 8 cores (query mean 5 ms: 56%).
NET = {"rate": 900.0, "servers": 3, "cores": 4, "web_s": 0.010, "db_cores": 8,
       "db_s": 0.005}  # fmt: skip


# Baseline (a): idiomatic SimPy -------------------------------------------------------
def simpy_mm4(requests: int, seed: int = 1) -> int:
    rnd = random.Random(seed)
    env = simpy.Environment()
    server = simpy.Resource(env, capacity=MM4["cores"])
    latencies: list[float] = []

    def request(env: simpy.Environment):
        t0 = env.now
        with server.request() as req:
            yield req
            yield env.timeout(rnd.expovariate(1 / MM4["mean_s"]))
        latencies.append(env.now - t0)

    def source(env: simpy.Environment):
        while True:
            yield env.timeout(rnd.expovariate(MM4["rate"]))
            env.process(request(env))

    env.process(source(env))
    env.run(until=requests / MM4["rate"])
    return len(latencies)


def simpy_network(requests: int, seed: int = 1) -> int:
    rnd = random.Random(seed)
    env = simpy.Environment()
    servers = [
        simpy.Resource(env, capacity=NET["cores"]) for _ in range(NET["servers"])
    ]
    db = simpy.Resource(env, capacity=NET["db_cores"])
    latencies: list[float] = []
    rr = [0]

    def request(env: simpy.Environment):
        t0 = env.now
        server = servers[rr[0] % len(servers)]
        rr[0] += 1
        with server.request() as req:
            yield req
            yield env.timeout(rnd.expovariate(1 / NET["web_s"]))
        with db.request() as req:
            yield req
            yield env.timeout(rnd.expovariate(1 / NET["db_s"]))
        latencies.append(env.now - t0)

    def source(env: simpy.Environment):
        while True:
            yield env.timeout(rnd.expovariate(NET["rate"]))
            env.process(request(env))

    env.process(source(env))
    env.run(until=requests / NET["rate"])
    return len(latencies)


# Baseline (b): a minimal heapq event loop -------------------------------------------
def heapq_mm4(requests: int, seed: int = 1) -> int:
    rnd = random.Random(seed)
    expo = rnd.expovariate
    rate, cores, mu = MM4["rate"], MM4["cores"], 1 / MM4["mean_s"]
    horizon = requests / rate
    heap: list = [(expo(rate), 0, 0, 0.0)]  # (time, seq, kind, arrival time)
    seq = 1
    busy = 0
    queue: deque[float] = deque()
    done = 0
    latencies: list[float] = []  # like the SimPy baseline: for percentiles
    while heap:
        t, _, kind, t0 = heapq.heappop(heap)
        if t > horizon:
            break
        if kind == 0:  # arrival
            heapq.heappush(heap, (t + expo(rate), seq, 0, 0.0))
            seq += 1
            if busy < cores:
                busy += 1
                heapq.heappush(heap, (t + expo(mu), seq, 1, t))
                seq += 1
            else:
                queue.append(t)
        else:  # departure
            done += 1
            latencies.append(t - t0)
            if queue:
                heapq.heappush(heap, (t + expo(mu), seq, 1, queue.popleft()))
                seq += 1
            else:
                busy -= 1
    return done


def heapq_network(requests: int, seed: int = 1) -> int:
    rnd = random.Random(seed)
    expo = rnd.expovariate
    rate = NET["rate"]
    n, cores = NET["servers"], NET["cores"]
    mu_web, mu_db, db_cores = 1 / NET["web_s"], 1 / NET["db_s"], NET["db_cores"]
    horizon = requests / rate
    heap: list = [(expo(rate), 0, 0, 0, 0.0)]  # (time, seq, kind, server, t0)
    seq = 1
    busy = [0] * n
    queues = [deque() for _ in range(n)]
    db_busy = 0
    db_queue: deque[float] = deque()
    rr = 0
    done = 0
    latencies: list[float] = []  # like the SimPy baseline: for percentiles
    while heap:
        t, _, kind, s, t0 = heapq.heappop(heap)
        if t > horizon:
            break
        if kind == 0:  # client arrival -> server rr
            heapq.heappush(heap, (t + expo(rate), seq, 0, 0, 0.0))
            seq += 1
            s = rr
            rr = (rr + 1) % n
            if busy[s] < cores:
                busy[s] += 1
                heapq.heappush(heap, (t + expo(mu_web), seq, 1, s, t))
                seq += 1
            else:
                queues[s].append(t)
        elif kind == 1:  # server done -> database
            if queues[s]:
                heapq.heappush(heap, (t + expo(mu_web), seq, 1, s, queues[s].popleft()))
                seq += 1
            else:
                busy[s] -= 1
            if db_busy < db_cores:
                db_busy += 1
                heapq.heappush(heap, (t + expo(mu_db), seq, 2, 0, t0))
                seq += 1
            else:
                db_queue.append(t0)
        else:  # database done -> reply
            done += 1
            latencies.append(t - t0)
            if db_queue:
                heapq.heappush(heap, (t + expo(mu_db), seq, 2, 0, db_queue.popleft()))
                seq += 1
            else:
                db_busy -= 1
    return done


BASELINES = {
    ("simpy", "mm4"): simpy_mm4,
    ("simpy", "network"): simpy_network,
    ("heapq", "mm4"): heapq_mm4,
    ("heapq", "network"): heapq_network,
}

if __name__ == "__main__":
    kind, model, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(BASELINES[kind, model](n))
