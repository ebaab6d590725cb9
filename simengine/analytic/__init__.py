"""The instant estimate: queueing theory on a parsed document, no simulation.

``estimate(doc)`` answers in a few milliseconds what a run measures in minutes, under
stated assumptions (listed in the result's ``assumptions``):

* Offered load flows from ``workload.target`` through the graph: a balancer splits its
  requests over its targets' instances (round robin, random and ip_hash evenly per
  instance; weighted_round_robin by ``weights`` per instance; the load-aware
  algorithms in proportion to capacity, cores x speed); a service does its CPU work and
  then calls every dependency in ``calls`` once, as a read or a write as the request
  is (a call with a ``probability`` on that share of its requests; a circuit breaker
  is left out when it cannot open without faults, else the latency is not given); a cache sends its misses (and, by strategy, its writes) to ``backing``; a
  database sends writes to its primaries and reads to its replicas (or primaries),
  split over shards by strategy (range sharding of a skewed workload is uneven).
* A cache's hit ratio is Che's approximation for LRU (FIFO and random use the
  exponential-free variant, LFU keeps the most popular keys), over the workload's Zipf
  key popularity, reduced by TTL expiry and by invalidation on writes.
* Every station (a service instance's cores, a database node's cores) is an M/G/c
  queue: Erlang C for the wait, corrected for the service-time variability
  (Allen-Cunneen), with Poisson arrivals everywhere but at a one-instance service
  the clients call directly, where constant or renewal gaps enter with their squared
  cv (Kramer and Langenbach-Belz's correction for regular gaps). A processor-sharing
  service is insensitive: M/M/c's mean response for any work. Each station also
  gives the probability of waiting (Erlang C, M/M/c/K). A balancer and a cache are
  fixed delays.
* Utilization = offered load x mean work / (servers x speed), with the Universal
  Scalability Law lowering a service's effective capacity when ``scaling`` is given.

Modules: ``queueing`` (Erlang C, M/M/c/K, USL, the station), ``popularity`` (key
popularity and Che's approximation), ``network`` (the walk over the graph, one
function per component type in each step's table), ``model`` (the result, the
objectives; the bottleneck comes from ``simengine.advice``, the advisor a run's
report uses too), ``format`` (the text for the command line).
"""

from __future__ import annotations

from ..advice import HOT_UTILIZATION, WARN_UTILIZATION
from .format import format_estimate
from .model import ASSUMPTIONS, LABEL, estimate
from .popularity import che_hit_ratio, clear_caches
from .queueing import erlang_c, mmc_wait, mmck, usl_capacity

__all__ = [
    "ASSUMPTIONS",
    "HOT_UTILIZATION",
    "LABEL",
    "WARN_UTILIZATION",
    "che_hit_ratio",
    "clear_caches",
    "erlang_c",
    "estimate",
    "format_estimate",
    "mmc_wait",
    "mmck",
    "usl_capacity",
]
