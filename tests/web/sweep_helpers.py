"""Running sweep points in the test process, as workers would (shared by the sweep
tests: test_sweep_service, test_sweep_pages, test_sweep_api)."""

from __future__ import annotations

from dashboard.runs import execution
from dashboard.runs.models import RunPart

#: A small tier with an objective: web saturates near 400 req/s.
SWEEP_DOC = """\
scaleboard: 1
name: Sweep tier
simulation: {duration_s: 10, warmup_s: 1, seed: 7, snapshot_s: 1}
workload: {target: lb, rps: 100}
components:
  lb: {type: load_balancer, algorithm: round_robin, targets: [web]}
  web: {type: service, instances: 2, cores: 2, work_ms: {dist: exponential, mean: 10}}
objectives:
  latency_ms: {p99: 60}
"""


def capture_runs(monkeypatch) -> list:
    """Run ids as their tasks would be sent (executed by `drain`), nothing published."""
    sent: list = []
    monkeypatch.setattr("dashboard.runs.services._enqueue", sent.append)
    monkeypatch.setattr("dashboard.runs.publish._send", lambda *a: None)
    return sent


def drain(queued: list, limit: int = 200) -> int:
    """Execute every queued run (parts one by one), including the rounds the runs'
    endings create; how many were run."""
    done = 0
    while queued and done < limit:
        run_id = queued.pop(0)
        replications = list(
            RunPart.objects.filter(run_id=run_id).values_list("replication", flat=True)
        )
        for r in replications:
            execution.part_execute(run_id=run_id, replication=r, worker="t@h")
        if not replications:
            execution.run_execute(run_id=run_id, worker="t@h")
        done += 1
    return done
