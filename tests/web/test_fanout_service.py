"""Fanned-out runs as the workers run them, without Celery: parts claimed, combined in
the database, failed, cancelled with a partial report, reaped part by part; the
`parts` message, a queued run's position and workers; pacing on both paths.

`part_execute` / `run_execute` are called here (in threads where a run must be
stopped midway), as a worker's task calls them; the real-worker versions are in
test_fanout.py.
"""

from __future__ import annotations

import json
import random
import threading
import time

import pytest
from django.db import close_old_connections
from django.utils import timezone

import simengine
from dashboard.celery import app as celery_app
from dashboard.runs import execution, parts, selectors, services
from dashboard.runs.models import Run, RunPart, RunSnapshot, WorkerBeat
from dashboard.runs.services import RunLimitExceeded, run_create, run_document_parse
from tests.web.factories import SMALL_DOC, long_doc, make_run, queue_run

#: Three replications of the small document (fast), and a long one.
THREE = SMALL_DOC.replace("seed: 7,", "seed: 7, replications: 3,")
LONG_THREE = long_doc(duration_s=1500, rps=400).replace(
    "seed: 7,", "seed: 7, replications: 3,"
)


#: The real sender, for the tests that send (the fixture below replaces it).
REAL_ENQUEUE = services._enqueue


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch) -> list:
    queued: list = []
    monkeypatch.setattr("dashboard.runs.services._enqueue", queued.append)
    return queued


@pytest.fixture(autouse=True)
def part_sends(monkeypatch) -> list:
    sent: list = []
    monkeypatch.setattr(
        "dashboard.runs.services._enqueue_part", lambda *args: sent.append(args)
    )
    return sent


@pytest.fixture
def published(monkeypatch) -> list[dict]:
    """Every message sent to a run's group (the channel layer's boundary)."""
    messages: list[dict] = []
    monkeypatch.setattr(
        "dashboard.runs.publish._send", lambda run_id, message: messages.append(message)
    )
    return messages


def _local(text: str, seed: int) -> dict:
    report = simengine.simulate(simengine.parse_document(text), seed=seed)
    return json.loads(json.dumps(report))


def _parts(run) -> list[RunPart]:
    return list(RunPart.objects.filter(run_id=run.pk).order_by("replication"))


def _in_thread(work) -> tuple[threading.Thread, dict]:
    result: dict = {}

    def target():
        try:
            result["value"] = work()
        except BaseException as exc:  # surfaced by the test
            result["error"] = exc
        finally:
            close_old_connections()

    thread = threading.Thread(target=target)
    thread.start()
    return thread, result


def _wait(predicate, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


# --- creating and sending --------------------------------------------------------


@pytest.mark.django_db
def test_a_run_of_three_replications_is_three_queued_parts_sent_once(
    alice, no_enqueue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = queue_run(alice, THREE)
    assert [(p.replication, p.status) for p in _parts(run)] == [
        (0, "queued"),
        (1, "queued"),
        (2, "queued"),
    ]
    assert no_enqueue == [run.pk]


@pytest.mark.django_db
def test_one_replication_or_fan_out_off_keeps_the_single_task(alice, settings):
    assert _parts(queue_run(alice, SMALL_DOC)) == []
    settings.RUN_FANOUT = False
    run = queue_run(alice, THREE)
    assert _parts(run) == []
    assert execution.run_execute(run_id=run.pk, worker="w@x") == Run.Status.SUCCEEDED
    run.refresh_from_db()
    assert run.report == _local(THREE, run.seed)


@pytest.mark.django_db(transaction=True)
def test_enqueue_sends_a_group_of_one_run_part_message_per_replication(
    alice, redis_url, monkeypatch
):
    """The real send, to the real broker: N messages for `run_part`, one per part."""
    monkeypatch.setattr("dashboard.runs.services._enqueue", REAL_ENQUEUE)
    celery_app.control.purge()
    run = queue_run(alice, THREE)
    with celery_app.connection_for_write() as conn:
        raw = conn.default_channel.client.lrange("celery", 0, -1)
    celery_app.control.purge()
    headers = [json.loads(m)["headers"] for m in raw]
    assert sorted((h["task"], h["argsrepr"]) for h in headers) == [
        ("dashboard.runs.tasks.run_part", f"('{run.pk}', {r})") for r in range(3)
    ]
    assert len({h["group"] for h in headers}) == 1  # one group


@pytest.mark.django_db
def test_a_huge_fanned_out_document_is_refused_up_front_with_nothing_written(alice):
    """Row 9: the event budget is the whole run's, over all its replications."""
    huge = (  # 10^8 requests: under max_requests, but far over the event budget
        long_doc(duration_s=2000, rps=5000)
        .replace("seed: 7,", "seed: 7, replications: 10,")
        .replace("snapshot_s: 1", "snapshot_s: 10")
    )
    with pytest.raises(simengine.DocumentError, match="max_events"):
        queue_run(alice, huge)
    assert not Run.objects.exists() and not RunPart.objects.exists()


# --- parts, combined in the database ---------------------------------------------


@pytest.mark.django_db
def test_parts_in_any_order_combine_into_what_simulate_returns(alice, published):
    run = queue_run(alice, THREE)
    states, started = [], set()
    for replication in (2, 0, 1):
        status = execution.part_execute(
            run_id=run.pk, replication=replication, worker=f"w{replication}@host"
        )
        assert status == RunPart.Status.SUCCEEDED
        run.refresh_from_db()
        states.append((run.status, run.report is None))
        started.add(run.started_at)
    # Running from the first claim, never combined early, started once.
    assert states == [("running", True), ("running", True), ("succeeded", False)]
    assert len(started) == 1
    assert run.report == _local(THREE, run.seed)
    assert [p.worker for p in _parts(run)] == ["w0@host", "w1@host", "w2@host"]
    # Only the lead streamed: seq from 0, every snapshot of replication 0.
    snaps = list(RunSnapshot.objects.filter(run=run).values_list("seq", "data"))
    assert [s for s, _ in snaps] == list(range(run.last_seq + 1))
    assert {d["replication"] for _, d in snaps} == {0}
    finals = [
        m for m in published if m["type"] == "run.status" and m["status"] == "succeeded"
    ]
    assert len(finals) == 1 and finals[0]["last_seq"] == run.last_seq


@pytest.mark.django_db
def test_a_duplicated_part_message_is_skipped_and_never_combines_twice(alice):
    run = queue_run(alice, THREE)
    for r in range(3):
        execution.part_execute(run_id=run.pk, replication=r)
    report = Run.objects.get(pk=run.pk).report
    finished = Run.objects.get(pk=run.pk).finished_at
    for r in range(3):
        assert execution.part_execute(run_id=run.pk, replication=r) == "skipped"
    run.refresh_from_db()
    assert run.report == report and run.finished_at == finished
    assert all(p.attempts == 1 for p in _parts(run))


@pytest.mark.django_db
def test_run_execute_leaves_a_fanned_out_run_to_its_parts(alice):
    run = queue_run(alice, THREE)
    assert execution.run_execute(run_id=run.pk) == "skipped"
    assert Run.objects.get(pk=run.pk).status == Run.Status.QUEUED


@pytest.mark.django_db(transaction=True)
def test_the_last_two_parts_finishing_together_combine_once(alice, published):
    """Many threads settling at once: exactly one combine, one succeeded status."""
    run = queue_run(alice, THREE)
    for r in range(3):
        execution.part_execute(run_id=run.pk, replication=r)
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING, report=None)
    published.clear()
    barrier = threading.Barrier(8)
    outcomes: list = []

    def settle():
        barrier.wait()
        outcomes.append(parts.run_parts_settle(run_id=run.pk))
        close_old_connections()

    threads = [threading.Thread(target=settle) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes, key=str) == [None] * 7 + [Run.Status.SUCCEEDED]
    assert Run.objects.get(pk=run.pk).report == _local(THREE, run.seed)
    assert [m["status"] for m in published if m["type"] == "run.status"] == [
        "succeeded"
    ]


# --- failure and cancel -----------------------------------------------------------


@pytest.mark.django_db
def test_a_failing_part_fails_the_run_and_cancels_the_queued_ones(alice, published):
    run = make_run(alice, text=THREE.replace("rps: 100", "rps: -1"))
    parts.parts_create(run=run, replications=3)
    assert execution.part_execute(run_id=run.pk, replication=1) == "failed"
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    assert "Invalid document" in run.error and "workload" in run.error
    assert [p.status for p in _parts(run)] == ["cancelled", "failed", "cancelled"]
    assert run.report is None  # nothing was measured
    assert execution.part_execute(run_id=run.pk, replication=0) == "skipped"
    last_parts = [m for m in published if m["type"] == "run.parts"][-1]
    assert [p["status"] for p in last_parts["parts"]] == [
        "cancelled",
        "failed",
        "cancelled",
    ]


@pytest.mark.django_db(transaction=True)
def test_a_failing_part_stops_the_running_ones_at_their_next_heartbeat(alice):
    run = queue_run(alice, LONG_THREE)
    thread, result = _in_thread(
        lambda: execution.part_execute(run_id=run.pk, replication=0)
    )
    _wait(lambda: Run.objects.get(pk=run.pk).last_seq >= 2, what="the lead to stream")
    claim = parts.part_claim(run_id=run.pk, replication=2, worker="w2")
    assert claim is not None
    assert parts.part_finish(
        part_pk=claim[0], token=claim[1], status="failed", error="boom"
    )
    parts.run_fail_from_part(run_id=run.pk, message="boom")
    thread.join(timeout=30)
    assert not thread.is_alive() and result["value"] == RunPart.Status.CANCELLED
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED and run.error == "boom"
    assert [p.status for p in _parts(run)] == ["cancelled", "cancelled", "failed"]
    # What the lead measured is kept: the failed run's partial report.
    assert run.report["partial"] == {
        "replications_complete": 0,
        "replications_planned": 3,
        "measured_s": run.report["duration_s"],
    }


@pytest.mark.django_db(transaction=True)
def test_a_cancel_mid_run_keeps_the_finished_parts_and_the_lead_s_partial(
    alice, published
):
    run = queue_run(alice, LONG_THREE)
    # Replications 1 and 2 finish first (a second worker ran them: shorter ones,
    # to be quick; what is combined is what the parts stored).
    short = long_doc(duration_s=60, rps=400)
    for r in (1, 2):
        claim = parts.part_claim(run_id=run.pk, replication=r, worker="w2")
        report = simengine.run_replication(
            simengine.parse_document(short), seed=run.seed, replication=r
        )
        assert parts.part_finish(
            part_pk=claim[0], token=claim[1], status="succeeded", report=report
        )
    thread, result = _in_thread(
        lambda: execution.part_execute(run_id=run.pk, replication=0, worker="w1")
    )
    _wait(lambda: Run.objects.get(pk=run.pk).last_seq >= 5, what="the lead to stream")
    assert services.run_cancel(run=Run.objects.get(pk=run.pk))
    thread.join(timeout=30)
    assert not thread.is_alive() and result["value"] == RunPart.Status.CANCELLED
    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED
    rows = _parts(run)
    assert [p.status for p in rows] == ["cancelled", "succeeded", "succeeded"]
    expected = simengine.partial_combined(
        [rows[1].report, rows[2].report], rows[0].report, 3
    )
    assert run.report == json.loads(json.dumps(expected))
    assert run.report["partial"]["replications_complete"] == 2
    assert run.report["partial"]["replications_planned"] == 3
    # The lead's snapshots up to where it stopped are all stored.
    seqs = list(RunSnapshot.objects.filter(run=run).values_list("seq", flat=True))
    assert seqs == list(range(run.last_seq + 1))
    statuses = [m for m in published if m["type"] == "run.status"]
    assert statuses[-1]["status"] == "cancelled"  # again, once the report is there


@pytest.mark.django_db
def test_a_cancel_when_nothing_runs_stores_the_partial_report_itself(alice):
    run = queue_run(alice, THREE)
    execution.part_execute(run_id=run.pk, replication=1)
    assert services.run_cancel(run=Run.objects.get(pk=run.pk))
    run.refresh_from_db()
    assert [p.status for p in _parts(run)] == ["cancelled", "succeeded", "cancelled"]
    assert all(p.finished_at for p in _parts(run))
    assert run.report["partial"]["replications_complete"] == 1
    assert run.report["partial"]["replications_planned"] == 3
    assert run.report["requests"] == _parts(run)[1].report["requests"]


@pytest.mark.django_db
def test_cancelling_a_queued_fanned_run_cancels_every_part_and_stores_no_report(
    alice,
):
    run = queue_run(alice, THREE)
    assert services.run_cancel(run=run)
    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED and run.report is None
    assert [p.status for p in _parts(run)] == ["cancelled"] * 3
    assert all(execution.part_execute(run_id=run.pk, replication=r) == "skipped"
               for r in range(3))  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_a_part_past_its_time_limit_fails_the_run_keeping_what_it_measured(
    alice, settings
):
    settings.RUN_TIME_LIMIT_S = 1
    run = queue_run(alice, LONG_THREE)
    assert execution.part_execute(run_id=run.pk, replication=0) == "failed"
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED and "time limit of 1 s" in run.error
    assert run.report["partial"]["replications_planned"] == 3
    assert [p.status for p in _parts(run)] == ["failed", "cancelled", "cancelled"]


@pytest.mark.django_db(transaction=True)
def test_a_part_taken_back_by_the_reaper_stops_and_writes_nothing(alice):
    """Never two copies: the reaper's re-queue (a new token to come) stops the old."""
    run = queue_run(alice, LONG_THREE)
    thread, result = _in_thread(
        lambda: execution.part_execute(run_id=run.pk, replication=1)
    )
    _wait(
        lambda: RunPart.objects.filter(run=run, replication=1, progress__gt=0).exists(),
        what="the part to beat",
    )
    RunPart.objects.filter(run=run, replication=1).update(
        status=RunPart.Status.QUEUED, attempt_token=None
    )
    thread.join(timeout=30)
    assert not thread.is_alive() and result["value"] == RunPart.Status.QUEUED
    part = RunPart.objects.get(run=run, replication=1)
    assert part.status == "queued" and part.report is None and part.finished_at is None
    assert Run.objects.get(pk=run.pk).status == Run.Status.RUNNING


# --- the reaper, part by part -----------------------------------------------------


def _stale(settings) -> timezone.datetime:
    return timezone.now() - timezone.timedelta(seconds=settings.RUN_STALE_AFTER_S + 5)


@pytest.mark.django_db
def test_a_stale_part_is_queued_again_alone_and_the_others_go_on(
    alice, settings, part_sends, published
):
    run = queue_run(alice, THREE)
    claims = {
        r: parts.part_claim(run_id=run.pk, replication=r, worker=f"w{r}")
        for r in (0, 1)
    }
    RunPart.objects.filter(run=run, replication=1).update(heartbeat_at=_stale(settings))
    counts = services.runs_reap_stale()
    assert counts == {"retried": 1, "failed": 0, "resent": 0}
    assert part_sends == [(run.pk, 1)]
    rows = _parts(run)
    assert rows[1].status == "queued" and rows[1].attempt_token is None
    assert "replication 1" in rows[1].error
    assert rows[0].status == "running" and rows[0].attempt_token == claims[0][1]
    assert rows[2].status == "queued"
    assert Run.objects.get(pk=run.pk).status == Run.Status.RUNNING
    assert published[-1]["type"] == "run.parts"
    # The old attempt cannot write any more.
    assert not parts.part_finish(
        part_pk=claims[1][0], token=claims[1][1], status="succeeded", report={}
    )
    # Run again: attempt 2, and the run's report is still simulate's.
    for r in (1, 2):
        execution.part_execute(run_id=run.pk, replication=r)
    assert parts.part_finish(
        part_pk=claims[0][0],
        token=claims[0][1],
        status="succeeded",
        report=simengine.run_replication(
            simengine.parse_document(THREE), seed=run.seed, replication=0
        ),
    )
    parts.run_parts_settle(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED
    assert [p.attempts for p in _parts(run)] == [1, 2, 1]
    assert run.report == _local(THREE, run.seed)


@pytest.mark.django_db
def test_a_stale_part_out_of_attempts_fails_the_run(alice, settings, published):
    settings.RUN_MAX_ATTEMPTS = 1
    run = queue_run(alice, THREE)
    parts.part_claim(run_id=run.pk, replication=2, worker="w2")
    RunPart.objects.filter(run=run, replication=2).update(heartbeat_at=_stale(settings))
    assert services.runs_reap_stale() == {"retried": 0, "failed": 1, "resent": 0}
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED and "replication 2 stopped" in run.error
    assert [p.status for p in _parts(run)] == ["cancelled", "cancelled", "failed"]


@pytest.mark.django_db
def test_a_lead_retried_after_its_worker_died_restarts_the_stream_from_zero(
    alice, settings, published
):
    run = queue_run(alice, THREE)
    parts.part_claim(run_id=run.pk, replication=0, worker="w0")
    RunSnapshot.objects.bulk_create(
        [RunSnapshot(run=run, seq=s, data={"seq": s, "stale": True}) for s in range(5)]
    )
    Run.objects.filter(pk=run.pk).update(last_seq=4)
    RunPart.objects.filter(run=run, replication=0).update(heartbeat_at=_stale(settings))
    assert services.runs_reap_stale()["retried"] == 1
    published.clear()
    assert execution.part_execute(run_id=run.pk, replication=0) == "succeeded"
    assert published[0]["type"] == "run.status" and published[0]["restarted"] is True
    snaps = list(RunSnapshot.objects.filter(run=run).values_list("seq", "data"))
    assert [s for s, _ in snaps] == list(range(len(snaps)))
    assert not any(d.get("stale") for _, d in snaps)
    assert Run.objects.get(pk=run.pk).last_seq == len(snaps) - 1


@pytest.mark.django_db
def test_a_dead_worker_s_part_of_a_cancelled_run_is_closed_and_the_partial_stored(
    alice, settings
):
    run = queue_run(alice, THREE)
    execution.part_execute(run_id=run.pk, replication=1)
    parts.part_claim(run_id=run.pk, replication=0, worker="w0")  # its worker dies
    assert services.run_cancel(run=Run.objects.get(pk=run.pk))
    assert Run.objects.get(pk=run.pk).report is None  # the lead may still stop
    RunPart.objects.filter(run=run, replication=0).update(heartbeat_at=_stale(settings))
    services.runs_reap_stale()
    run.refresh_from_db()
    assert [p.status for p in _parts(run)] == ["cancelled", "succeeded", "cancelled"]
    assert run.report["partial"]["replications_complete"] == 1


@pytest.mark.django_db
def test_a_queued_part_left_unclaimed_is_sent_again(alice, settings, part_sends):
    run = queue_run(alice, THREE)
    parts.part_claim(run_id=run.pk, replication=0, worker="w0")
    old = timezone.now() - timezone.timedelta(seconds=settings.RUN_REQUEUE_AFTER_S + 5)
    RunPart.objects.filter(run=run, replication=2).update(queued_at=old)
    assert services.runs_reap_stale()["resent"] == 1
    assert part_sends == [(run.pk, 2)]
    assert services.runs_reap_stale()["resent"] == 0  # not again until old again


@pytest.mark.django_db(transaction=True)
def test_a_fanned_run_asked_while_the_broker_is_down_is_queued_then_sent_by_parts(
    alice, settings, part_sends, monkeypatch
):
    from tests.web.processes import drop_broker_connections

    monkeypatch.setattr("dashboard.runs.services._enqueue", REAL_ENQUEUE)
    conf = celery_app.conf
    saved = conf.broker_url
    conf.broker_url = "redis://127.0.0.1:1/0"
    drop_broker_connections()
    try:
        run = queue_run(alice, THREE)
    finally:
        conf.broker_url = saved
        drop_broker_connections()
    assert Run.objects.get(pk=run.pk).error == services.BROKER_DOWN_NOTE
    old = timezone.now() - timezone.timedelta(seconds=settings.RUN_REQUEUE_AFTER_S + 5)
    RunPart.objects.filter(run=run).update(queued_at=old)
    assert services.runs_reap_stale()["resent"] == 3
    assert sorted(part_sends) == [(run.pk, 0), (run.pk, 1), (run.pk, 2)]
    execution.part_execute(run_id=run.pk, replication=0)
    assert Run.objects.get(pk=run.pk).error == ""  # the first claim clears the note


# --- what viewers are told --------------------------------------------------------


@pytest.mark.django_db
def test_parts_state_carries_each_part_s_figures_once_it_has_a_report(alice):
    run = queue_run(alice, THREE)
    assert selectors.run_parts_state(run_id=make_run(alice).pk) is None
    execution.part_execute(run_id=run.pk, replication=1, worker="w1@host")
    state = selectors.run_parts_state(run_id=run.pk)
    assert state["planned"] == 3
    one = state["parts"][1]
    report = RunPart.objects.get(run=run, replication=1).report
    requests = report["requests"]
    assert one == {
        "replication": 1,
        "status": "succeeded",
        "worker": "w1@host",
        "attempts": 1,
        "progress": 1.0,
        "throughput_rps": report["throughput_rps"],
        "p99_ms": report["latency_ms"]["p99"],
        "error_rate": (requests["errors"] + requests["timeouts"] + requests["rejected"])
        / requests["offered"],
    }
    assert state["parts"][0] == {
        "replication": 0,
        "status": "queued",
        "worker": "",
        "attempts": 0,
        "progress": 0.0,
        "throughput_rps": None,
        "p99_ms": None,
        "error_rate": None,
    }


@pytest.mark.django_db
def test_every_part_change_publishes_the_parts_message(alice, published):
    run = queue_run(alice, THREE)
    execution.part_execute(run_id=run.pk, replication=2, worker="w@h")
    messages = [m for m in published if m["type"] == "run.parts"]
    assert len(messages) >= 2  # claimed, then finished
    assert messages[0]["parts"][2]["status"] == "running"
    assert messages[-1]["parts"][2]["status"] == "succeeded"
    assert messages[-1] == {
        "type": "run.parts",
        **selectors.run_parts_state(run_id=run.pk),
    }


@pytest.mark.django_db
def test_queue_state_counts_runs_ahead_and_workers_seen_lately(alice, bob, settings):
    first = make_run(alice)
    second = make_run(bob)
    make_run(alice, status=Run.Status.RUNNING)
    now = timezone.now()
    WorkerBeat.objects.create(hostname="w1@host", seen_at=now)
    WorkerBeat.objects.create(
        hostname="gone@host",
        seen_at=now - timezone.timedelta(seconds=3 * settings.RUN_REAP_INTERVAL_S + 1),
    )
    assert selectors.run_queue_state(first) == {"position": 1, "workers": 1}
    assert selectors.run_queue_state(second) == {"position": 2, "workers": 1}
    Run.objects.filter(pk=first.pk).update(status=Run.Status.RUNNING)
    second.refresh_from_db()
    assert selectors.run_queue_state(second)["position"] == 1
    first.refresh_from_db()
    assert selectors.run_queue_state(first) is None


@pytest.mark.django_db(transaction=True)  # the step closes its connections
def test_the_reaper_step_beats_at_start_and_every_interval_and_leaves_on_stop(
    monkeypatch,
):
    from dashboard.runs import reaper

    monkeypatch.setattr(reaper, "_reap", lambda: None)
    ticks = []

    class Timer:
        def call_repeatedly(self, interval, fun, priority=0):
            ticks.append(fun)
            return type("Ref", (), {"cancel": lambda self: None})()

    class Worker:  # what the step reads of Celery's WorkController
        hostname = "w9@host"
        timer = Timer()

    step = reaper.ReaperStep(Worker())
    step.start(Worker())
    assert WorkerBeat.objects.filter(hostname="w9@host").exists()
    long_ago = timezone.now() - timezone.timedelta(hours=1)
    WorkerBeat.objects.filter(hostname="w9@host").update(seen_at=long_ago)
    ticks[0]()  # the interval's tick
    assert WorkerBeat.objects.get(hostname="w9@host").seen_at > long_ago
    step.stop(Worker())
    assert not WorkerBeat.objects.filter(hostname="w9@host").exists()


# --- pacing -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_paced_single_task_run_takes_at_least_horizon_over_pace(alice):
    run = make_run(alice)  # 22 simulated seconds (2 warm-up + 20)
    Run.objects.filter(pk=run.pk).update(pace=20.0)
    started = time.monotonic()
    assert execution.run_execute(run_id=run.pk) == Run.Status.SUCCEEDED
    assert time.monotonic() - started >= 22 / 20


@pytest.mark.django_db(transaction=True)
def test_a_paced_run_advances_no_faster_than_its_pace_and_cancels_mid_sleep(alice):
    pace = 20.0
    run = make_run(alice, text=long_doc(duration_s=4000, rps=50))
    Run.objects.filter(pk=run.pk).update(pace=pace)
    started = time.monotonic()
    thread, result = _in_thread(lambda: execution.run_execute(run_id=run.pk))
    _wait(lambda: Run.objects.get(pk=run.pk).last_seq >= 20, what="the run to stream")
    latest = RunSnapshot.objects.filter(run=run).order_by("-seq").first().data
    # Simulated progress is bounded by pace x wall time (plus one snapshot).
    assert latest["t_s"] <= pace * (time.monotonic() - started) + 1
    assert services.run_cancel(run=Run.objects.get(pk=run.pk))
    thread.join(timeout=30)
    assert not thread.is_alive() and result["value"] == Run.Status.CANCELLED
    run.refresh_from_db()
    assert run.report["partial"]["replications_planned"] == 1
    assert run.report["duration_s"] <= pace * (time.monotonic() - started)


@pytest.mark.django_db(transaction=True)
def test_a_paced_part_is_held_to_its_pace(alice):
    pace = 20.0
    run = queue_run(alice, THREE)
    Run.objects.filter(pk=run.pk).update(pace=pace)
    started = time.monotonic()
    assert execution.part_execute(run_id=run.pk, replication=1) == "succeeded"
    assert time.monotonic() - started >= 22 / pace


# --- limits under concurrency -----------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_fanned_starts_never_pass_the_limit_nor_leave_orphan_parts(
    alice, settings
):
    """Row 14 for fanned runs: the parts are written with their run or not at all."""
    settings.RUNS_ACTIVE_PER_USER = 4
    doc = run_document_parse(text=THREE)
    barrier = threading.Barrier(50)
    outcomes: list[str] = []

    def start():
        try:
            barrier.wait()
            run_create(owner=alice, document=doc, document_text=THREE)
            outcomes.append("started")
        except RunLimitExceeded:
            outcomes.append("refused")
        finally:
            close_old_connections()

    threads = [threading.Thread(target=start) for _ in range(50)]
    random.shuffle(threads)
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(outcomes) == ["refused"] * 46 + ["started"] * 4
    assert Run.objects.filter(owner=alice).count() == 4
    assert RunPart.objects.count() == 12
    for run in Run.objects.all():
        assert sorted(run.parts.values_list("replication", flat=True)) == [0, 1, 2]


@pytest.mark.django_db
def test_the_reaper_settles_a_run_whose_last_part_died_before_settling_it(alice):
    run = queue_run(alice, THREE)
    for r in range(3):
        claim = parts.part_claim(run_id=run.pk, replication=r, worker="w")
        report = simengine.run_replication(
            simengine.parse_document(THREE), seed=run.seed, replication=r
        )
        # The part's own write, and then its worker died: no settle.
        parts.part_finish(
            part_pk=claim[0], token=claim[1], status="succeeded", report=report
        )
    assert Run.objects.get(pk=run.pk).status == Run.Status.RUNNING
    services.runs_reap_stale()
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED
    assert run.report == _local(THREE, run.seed)


@pytest.mark.django_db
def test_the_reaper_fails_a_run_whose_failed_part_died_before_failing_it(alice):
    run = queue_run(alice, THREE)
    claim = parts.part_claim(run_id=run.pk, replication=1, worker="w")
    parts.part_finish(part_pk=claim[0], token=claim[1], status="failed", error="boom")
    services.runs_reap_stale()
    run.refresh_from_db()
    assert (run.status, run.error) == (Run.Status.FAILED, "boom")
    assert [p.status for p in _parts(run)] == ["cancelled", "failed", "cancelled"]


@pytest.mark.django_db
def test_a_cancelled_fanned_run_with_a_partial_report_renders(alice, alice_client):
    from django.urls import reverse

    run = queue_run(alice, THREE)
    execution.part_execute(run_id=run.pk, replication=1)
    services.run_cancel(run=Run.objects.get(pk=run.pk))
    for name in ("run_detail", "run_report", "run_report_json"):
        response = alice_client.get(reverse(name, kwargs={"run_id": run.pk}))
        assert response.status_code == 200, name
    body = alice_client.get(reverse("run_report_json", kwargs={"run_id": run.pk}))
    assert json.loads(body.content)["partial"]["replications_planned"] == 3


@pytest.mark.django_db
def test_a_precision_run_stays_one_task_and_reports_its_precision(alice):
    """Precision decides replication by replication: it cannot be fanned out."""
    text = SMALL_DOC.replace(
        "seed: 7,",
        "seed: 7, replications: 3, precision: {metric: throughput_rps, within: 0.5, "
        "max_replications: 4},",
    )
    run = queue_run(alice, text)
    assert _parts(run) == []
    assert execution.run_execute(run_id=run.pk) == Run.Status.SUCCEEDED
    run.refresh_from_db()
    assert run.report["precision"]["metric"] == "throughput_rps"
    assert run.report == _local(text, run.seed)
