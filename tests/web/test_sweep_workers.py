"""Sweeps over real Celery workers (real Redis, real PostgreSQL): a 20-point sweep
shared by two workers; one SIGKILLed mid-sweep loses no point (its part is retried
on the other) and the sweep succeeds; a cancel stops every part."""

from __future__ import annotations

import pytest

from dashboard.celery import app as celery_app
from dashboard.runs.models import Run, RunPart, WorkerBeat
from dashboard.scenarios.services import scenario_create
from dashboard.sweeps.models import Sweep
from dashboard.sweeps.services import sweep_cancel, sweep_create
from tests.web.factories import long_doc
from tests.web.processes import Worker, wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

#: Two replications a point, a fraction of a second of CPU each.
SHORT = long_doc(duration_s=30, rps=300).replace(
    "seed: 7,", "seed: 7, replications: 2,"
)
#: Points that take seconds each, for a kill and a cancel.
LONG = long_doc(duration_s=300, rps=500).replace(
    "seed: 7,", "seed: 7, replications: 2,"
)


@pytest.fixture
def workers(redis_url, tmp_path):
    celery_app.control.purge()
    started: list[Worker] = []

    def start(name: str, **env: str) -> Worker:
        worker = Worker(redis_url, tmp_path / "worker.log", name=name, **env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def _up(*ws: Worker, log) -> None:
    names = {w.hostname for w in ws}
    wait_for(
        lambda: names <= set(WorkerBeat.objects.values_list("hostname", flat=True)),
        60,
        f"workers {sorted(names)} to beat",
        log,
    )


def _sweep(alice, text: str, values: list) -> Sweep:
    scenario = scenario_create(owner=alice, text=text)
    return sweep_create(owner=alice, scenario=scenario,
                        version=scenario.latest_version, kind="sweep",
                        vary="workload.rps", values=values)  # fmt: skip


def _status(sweep) -> str:
    return Sweep.objects.values_list("status", flat=True).get(pk=sweep.pk)


def test_a_twenty_point_sweep_is_shared_by_two_workers(
    workers, postgres, alice, tmp_path
):
    log = tmp_path / "worker.log"
    w1, w2 = workers("w1"), workers("w2")
    _up(w1, w2, log=log)
    sweep = _sweep(alice, SHORT, [100 + 10 * i for i in range(20)])
    wait_for(lambda: _status(sweep) in Sweep.FINAL, 240, "the sweep to end", log)
    sweep.refresh_from_db()
    assert sweep.status == Sweep.Status.SUCCEEDED, sweep.error
    assert sweep.points.count() == 20
    assert all(p.recorded and p.figures for p in sweep.points.all())
    parts = RunPart.objects.filter(run__sweep_points__sweep=sweep)
    assert parts.count() == 40
    assert set(parts.values_list("worker", flat=True)) == {w1.hostname, w2.hostname}


def test_a_worker_killed_mid_sweep_loses_no_point(workers, postgres, alice, tmp_path):
    log = tmp_path / "worker.log"
    w1, w2 = workers("w1", RUN_STALE_AFTER_S="3"), workers("w2", RUN_STALE_AFTER_S="3")
    _up(w1, w2, log=log)
    sweep = _sweep(alice, LONG, [200, 300, 400, 500])
    wait_for(
        lambda: RunPart.objects.filter(
            run__sweep_points__sweep=sweep, worker=w1.hostname,
            status=RunPart.Status.RUNNING,
        ).exists(),
        120, "w1 to run a part", log,
    )  # fmt: skip
    w1.kill()
    wait_for(lambda: _status(sweep) in Sweep.FINAL, 300, "the sweep to end", log)
    sweep.refresh_from_db()
    assert sweep.status == Sweep.Status.SUCCEEDED, sweep.error
    assert sweep.points.filter(recorded=True, status="succeeded").count() == 4
    parts = RunPart.objects.filter(run__sweep_points__sweep=sweep)
    assert parts.filter(attempts__gt=1).exists()  # the killed one, retried
    assert set(parts.values_list("status", flat=True)) == {RunPart.Status.SUCCEEDED}


def test_cancel_stops_every_part_on_the_workers(workers, postgres, alice, tmp_path):
    log = tmp_path / "worker.log"
    w1, w2 = workers("w1"), workers("w2")
    _up(w1, w2, log=log)
    sweep = _sweep(alice, LONG, [200, 300, 400, 500, 600])
    wait_for(
        lambda: RunPart.objects.filter(
            run__sweep_points__sweep=sweep, status=RunPart.Status.RUNNING
        ).count() >= 2,
        120, "two parts to run", log,
    )  # fmt: skip
    assert sweep_cancel(sweep=sweep) is True
    parts = RunPart.objects.filter(run__sweep_points__sweep=sweep)
    wait_for(
        lambda: not parts.filter(finished_at__isnull=True).exists(),
        60, "every part to stop", log,
    )  # fmt: skip
    assert _status(sweep) == Sweep.Status.CANCELLED
    runs = Run.objects.filter(sweep_points__sweep=sweep)
    assert set(runs.values_list("status", flat=True)) == {Run.Status.CANCELLED}
    # Every part stopped: cancelled, or done before the cancel reached it.
    statuses = set(parts.values_list("status", flat=True))
    assert RunPart.Status.CANCELLED in statuses
    assert statuses <= {RunPart.Status.CANCELLED, RunPart.Status.SUCCEEDED}
