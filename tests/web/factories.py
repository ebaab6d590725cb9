"""Small builders for web tests: scenarios, runs and documents."""

from __future__ import annotations

from dashboard.runs.models import Run
from dashboard.runs.services import run_create, run_document_parse
from dashboard.scenarios.services import scenario_create

SMALL_DOC = """\
scaleboard: 1
name: Small web tier
simulation: {duration_s: 20, warmup_s: 2, seed: 7, snapshot_s: 1}
workload: {target: lb, rps: 100}
components:
  lb: {type: load_balancer, algorithm: round_robin, targets: [web]}
  web: {type: service, instances: 2, cores: 2, work_ms: {dist: exponential, mean: 10}}
"""


def long_doc(duration_s: int = 4000, rps: int = 1500) -> str:
    """A document that takes several seconds of wall time to simulate."""
    return SMALL_DOC.replace("duration_s: 20", f"duration_s: {duration_s}").replace(
        "rps: 100", f"rps: {rps}"
    )


def make_scenario(owner, text: str = SMALL_DOC):
    return scenario_create(owner=owner, text=text)


def make_run(owner, scenario=None, *, status=Run.Status.QUEUED, text: str = SMALL_DOC):
    return Run.objects.create(
        owner=owner,
        scenario=scenario,
        version=scenario.latest_version if scenario else None,
        name="run",
        document_text=text,
        seed=1,
        status=status,
    )


def queue_run(owner, text: str = SMALL_DOC) -> Run:
    """A run queued as the Run button queues one (parsed with the web's limits)."""
    return run_create(
        owner=owner, document=run_document_parse(text=text), document_text=text
    )
