"""The live run page: a small page whatever the run's length (the snapshots come over
the WebSocket), the topology and charts the document calls for, and presence (who is
watching, one `RunViewer` row per open socket)."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connections
from django.test import Client
from django.utils import timezone

from dashboard.asgi import application
from dashboard.runs import publish
from dashboard.runs.models import Run, RunSnapshot, RunViewer
from dashboard.runs.presence import SHARE_VISITOR_LABEL, run_viewers
from dashboard.scenarios.services import scenario_create
from dashboard.sharing.services import share_link_create
from tests.web.factories import SMALL_DOC, make_run, make_scenario

ROOT = Path(__file__).resolve().parents[2]

HEADERS = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]

AUTOSCALED_CACHED = """\
scaleboard: 1
name: Autoscaled behind a cache
simulation: {duration_s: 20, warmup_s: 2, seed: 7, snapshot_s: 1}
workload: {target: lb, rps: 100, keys: {count: 1000}}
components:
  lb: {type: load_balancer, targets: [web]}
  web:
    type: service
    instances: 2
    autoscale: {min: 2, max: 6}
    calls: [cache]
  cache: {type: cache, backing: db}
  db: {type: database}
"""


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def _snapshot(seq: int) -> dict:
    """A snapshot the size of a case-study window (about 700 bytes of JSON)."""
    return {
        "version": 1,
        "seq": seq,
        "replication": 0,
        "warmup": False,
        "progress": (seq + 1) / 10_000,
        "t_s": float(seq + 1),
        "window_s": 1.0,
        "rps": 200.0,
        "offered_rps": 200.5,
        "errors_rps": 0.0,
        "timeouts_rps": 0.0,
        "rejected_rps": 0.0,
        "errors": 0,
        "timeouts": 0,
        "rejected": 0,
        "latency_ms": {"p50": 29.2, "p95": 99.8, "p99": 141.9},
        "components": {
            "lb": {"utilization": None, "throughput_rps": 200.5, "errors_rps": 0.0},
            "web": {
                "utilization": 0.385,
                "throughput_rps": 200.2,
                "queue_mean": 0.0719,
                "instances": 2,
            },
            "marker": f"stored-snapshot-{seq}",
        },
    }


def _cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


def _socket(run_id, *, cookie: bytes | None = None, query: str = "after=-1"):
    headers = list(HEADERS)
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(
        application, f"/ws/runs/{run_id}/?{query}", headers=headers
    )


async def _until(communicator, kind: str, predicate=lambda m: True, timeout=5):
    """The next message of `kind` that satisfies `predicate` (others are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            message = await communicator.receive_json_from(timeout=timeout)
            if message["type"] == kind and predicate(message):
                return message


async def _close_connections() -> None:
    """The test's own ORM calls ran on asgiref's thread, the consumers' on the
    WebSocket lanes' threads (dashboard/serving.py): close their connections, or
    PostgreSQL refuses to drop the test database afterwards."""
    await sync_to_async(connections.close_all)()
    lanes = application.application_mapping["websocket"]
    for executor in lanes.executors:
        await asyncio.wrap_future(executor.submit(connections.close_all))


def _labels(message: dict) -> dict[str, int]:
    return {v["label"]: v["count"] for v in message["viewers"]}


# --- the page -----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_10000_snapshot_run_page_is_small_and_reads_no_snapshot(
    alice, alice_client, django_assert_max_num_queries
):
    run = make_run(alice, make_scenario(alice), status=Run.Status.SUCCEEDED)
    RunSnapshot.objects.bulk_create(
        (RunSnapshot(run=run, seq=seq, data=_snapshot(seq)) for seq in range(10_000)),
        batch_size=2000,
    )
    Run.objects.filter(pk=run.pk).update(last_seq=9_999)

    with django_assert_max_num_queries(12):
        response = alice_client.get(f"/runs/{run.pk}/")
    assert response.status_code == 200
    assert len(response.content) < 200_000, len(response.content)
    html = response.content.decode()
    assert "stored-snapshot-" not in html  # not one snapshot inlined
    assert 'id="snapshots-data"' not in html
    assert "10000 snapshots stored" in html
    meta = json.loads(re.search(r'id="run-meta"[^>]*>(.*?)</script>', html).group(1))
    assert meta["last_seq"] == 9_999 and meta["final"] is True


@pytest.mark.django_db
def test_the_page_draws_the_runs_topology_from_its_version_layout(alice, alice_client):
    scenario = scenario_create(owner=alice, text=SMALL_DOC)
    version = scenario.latest_version
    version.layout = {"positions": {"lb": {"x": 10.0, "y": 20.0}}}
    version.save(update_fields=["layout"])
    run = make_run(alice, scenario, status=Run.Status.RUNNING)

    html = alice_client.get(f"/runs/{run.pk}/").content.decode()
    live = json.loads(re.search(r'id="run-live"[^>]*>(.*?)</script>', html).group(1))
    assert {n["id"] for n in live["graph"]["nodes"]} == {"__clients__", "lb", "web"}
    assert live["positions"] == {"lb": {"x": 10.0, "y": 20.0}}
    assert live["components"]["web"] == {
        "type": "service",
        "instances": 2,
        "autoscale": False,
    }
    assert live["simulation"]["horizon_s"] == 22.0
    assert 'data-testid="run-canvas"' in html
    # Only the charts the document has: no autoscaling, no cache here.
    assert 'id="chart-instances"' not in html and 'id="chart-hit-ratio"' not in html
    assert 'id="chart-failures"' in html


@pytest.mark.django_db
def test_instances_and_hit_ratio_charts_appear_when_the_document_has_them(
    alice, alice_client
):
    scenario = scenario_create(owner=alice, text=AUTOSCALED_CACHED)
    run = make_run(alice, scenario, text=AUTOSCALED_CACHED)
    html = alice_client.get(f"/runs/{run.pk}/").content.decode()
    live = json.loads(re.search(r'id="run-live"[^>]*>(.*?)</script>', html).group(1))
    assert live["charts"] == {
        "instances": ["web"],
        "hit_ratio": ["cache"],
        "replication_lag": [],
        "shards": [],
        "queues": [],
        "retries": False,
        "rate_limited": False,
    }
    assert 'id="chart-instances"' in html and 'id="chart-hit-ratio"' in html
    assert 'id="chart-lag"' not in html and 'id="chart-shards"' not in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("example", "charts", "ids"),
    [
        ("retry-storm", {"retries": True}, ["chart-retries"]),
        ("rate-limited-api", {"rate_limited": True}, []),
        (
            "checkout-payment-queue",
            {"queues": ["payments"]},
            ["chart-queue-depth", "chart-queue-lag"],
        ),
    ],
)
def test_retries_rate_limits_and_queues_get_their_live_charts(
    alice, alice_client, example, charts, ids
):
    text = (ROOT / "examples" / f"{example}.yaml").read_text()
    scenario = scenario_create(owner=alice, text=text)
    run = make_run(alice, scenario, text=text)
    html = alice_client.get(f"/runs/{run.pk}/").content.decode()
    live = json.loads(re.search(r'id="run-live"[^>]*>(.*?)</script>', html).group(1))
    for key, value in charts.items():
        assert live["charts"][key] == value, key
    for chart in ids:
        assert f'id="{chart}"' in html
    others = {"chart-retries", "chart-queue-depth", "chart-queue-lag"} - set(ids)
    for chart in others:
        assert f'id="{chart}"' not in html


@pytest.mark.django_db
def test_lag_and_shard_charts_appear_for_a_replicated_sharded_database(
    alice, alice_client
):
    text = (ROOT / "examples" / "case-study-step7.yaml").read_text()
    scenario = scenario_create(owner=alice, text=text)
    run = make_run(alice, scenario, text=text)
    html = alice_client.get(f"/runs/{run.pk}/").content.decode()
    live = json.loads(re.search(r'id="run-live"[^>]*>(.*?)</script>', html).group(1))
    assert live["charts"]["replication_lag"] == ["postgres"]
    assert live["charts"]["shards"] == ["postgres"]
    assert live["components"]["postgres"]["shards_max"] == 4
    assert 'id="chart-lag"' in html and 'id="chart-shards"' in html


@pytest.mark.django_db
def test_a_run_whose_text_no_longer_parses_still_opens_without_a_canvas(
    alice, alice_client
):
    run = make_run(alice, make_scenario(alice), text="not: [a, document")
    response = alice_client.get(f"/runs/{run.pk}/")
    assert response.status_code == 200
    assert b'data-testid="run-canvas"' not in response.content


@pytest.mark.django_db
def test_outsiders_get_404_and_the_report_region_swaps_the_verdict_out_of_band(
    alice, alice_client, mallory_client
):
    run = make_run(alice, make_scenario(alice), status=Run.Status.RUNNING)
    assert mallory_client.get(f"/runs/{run.pk}/").status_code == 404
    assert mallory_client.get(f"/runs/{run.pk}/report").status_code == 404
    region = alice_client.get(f"/runs/{run.pk}/report").content.decode()
    assert '<span id="run-verdict-slot" hx-swap-oob="true">' in region
    page = alice_client.get(f"/runs/{run.pk}/").content.decode()
    assert "hx-swap-oob" not in page  # the page itself has the slot once, in place
    assert page.count('id="run-verdict-slot"') == 1


def test_the_queue_text_says_the_place_in_line_and_the_workers_up():
    from dashboard.runs.templatetags.runs_extras import queue_text

    assert queue_text({"position": 2, "workers": 2}) == (
        "Queued · 2nd in line · 2 workers up"
    )
    assert queue_text({"position": 11, "workers": 1}) == (
        "Queued · 11th in line · 1 worker up"
    )
    assert queue_text({"position": 1, "workers": 0}) == (
        "Queued · 1st in line · no worker up"
    )
    assert queue_text({}) == "" and queue_text(None) == ""


# --- presence -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_each_open_socket_has_a_row_and_every_join_and_leave_is_announced(
    alice, carol, team
):
    scenario = scenario_create(owner=alice, text=SMALL_DOC, team=team)
    run = make_run(alice, scenario, status=Run.Status.RUNNING)
    cookies = {"alice": _cookie(alice), "carol": _cookie(carol)}

    async def scenario_():
        a = _socket(run.pk, cookie=cookies["alice"])
        assert (await a.connect(timeout=5))[0]
        joined = await _until(a, "presence")
        rows_one = await database_sync_to_async(list)(
            RunViewer.objects.values_list("label", "user__username")
        )
        c = _socket(run.pk, cookie=cookies["carol"])
        assert (await c.connect(timeout=5))[0]
        both_at_a = await _until(a, "presence", lambda m: len(m["viewers"]) == 2)
        both_at_c = await _until(c, "presence")
        await c.disconnect()
        left = await _until(a, "presence", lambda m: len(m["viewers"]) == 1)
        rows_after = await database_sync_to_async(RunViewer.objects.count)()
        await a.disconnect()
        await _close_connections()
        return joined, rows_one, both_at_a, both_at_c, left, rows_after

    joined, rows_one, both_at_a, both_at_c, left, rows_after = asyncio.run(scenario_())
    assert joined == {
        "type": "presence",
        "viewers": [{"label": "alice", "count": 1}],
        "you": "alice",
    }
    assert rows_one == [("alice", "alice")]
    assert both_at_a["viewers"] == [
        {"label": "alice", "count": 1},
        {"label": "carol", "count": 1},
    ]
    assert both_at_c["you"] == "carol" and _labels(both_at_c) == {
        "alice": 1,
        "carol": 1,
    }
    assert left["viewers"] == [{"label": "alice", "count": 1}]
    assert rows_after == 1
    assert RunViewer.objects.count() == 0  # the last one left too


@pytest.mark.django_db
def test_a_stale_row_is_ignored_and_cleared_by_the_next_join(alice):
    run = make_run(alice, make_scenario(alice), status=Run.Status.RUNNING)
    old = timezone.now() - timedelta(seconds=settings.RUN_PRESENCE_STALE_S + 5)
    RunViewer.objects.create(
        run=run, channel_name="dead-server!1", user=alice, label="alice", seen_at=old
    )
    RunViewer.objects.create(
        run=run,
        channel_name="fresh!1",
        user=None,
        label=SHARE_VISITOR_LABEL,
        seen_at=timezone.now(),
    )
    assert run_viewers(run_id=run.pk) == [{"label": SHARE_VISITOR_LABEL, "count": 1}]

    from dashboard.runs.presence import viewer_join

    viewers = viewer_join(
        run_id=run.pk, channel_name="new!1", user=alice, label="alice"
    )
    assert viewers == [
        {"label": "alice", "count": 1},
        {"label": SHARE_VISITOR_LABEL, "count": 1},
    ]
    assert not RunViewer.objects.filter(channel_name="dead-server!1").exists()


@pytest.mark.django_db(transaction=True)
def test_a_ping_refreshes_seen_at_at_most_once_per_write_interval(alice, settings):
    run = make_run(alice, make_scenario(alice), status=Run.Status.RUNNING)
    cookie = _cookie(alice)
    long_ago = timezone.now() - timedelta(seconds=100)

    async def scenario_():
        s = _socket(run.pk, cookie=cookie)
        assert (await s.connect(timeout=5))[0]
        await _until(s, "presence")
        age = RunViewer.objects.filter(run=run)
        await database_sync_to_async(age.update)(seen_at=long_ago)
        # Within the write interval (just joined): the ping writes nothing.
        settings.RUN_PRESENCE_WRITE_S = 3600
        await s.send_json_to({"type": "ping"})
        await s.send_json_to({"type": "ping", "junk": "\ud800\x00"})
        await s.receive_nothing(timeout=0.3)
        throttled = await database_sync_to_async(age.get)()
        settings.RUN_PRESENCE_WRITE_S = 0
        await s.send_json_to({"type": "ping"})
        await s.receive_nothing(timeout=0.3)
        refreshed = await database_sync_to_async(age.get)()
        await s.disconnect()
        await _close_connections()
        return throttled.seen_at, refreshed.seen_at

    throttled, refreshed = asyncio.run(scenario_())
    assert throttled == long_ago
    assert refreshed > long_ago + timedelta(seconds=90)


@pytest.mark.django_db(transaction=True)
def test_a_team_viewer_and_a_share_visitor_both_get_the_stream_and_see_each_other(
    alice, dave, team
):
    """dave views alice's team scenario; a visitor has only a share link."""
    scenario = scenario_create(owner=alice, text=SMALL_DOC, team=team)
    run = make_run(alice, scenario, status=Run.Status.RUNNING)
    _, token = share_link_create(scenario=scenario, created_by=alice)
    dave_cookie = _cookie(dave)

    async def scenario_():
        viewer = _socket(run.pk, cookie=dave_cookie)
        visitor = _socket(run.pk, query=f"share={token}&after=-1")
        assert (await viewer.connect(timeout=5))[0]
        assert (await visitor.connect(timeout=5))[0]
        seen = []
        for s in (viewer, visitor):
            seen.append(await _until(s, "presence", lambda m: len(m["viewers"]) == 2))
        await database_sync_to_async(publish.publish_snapshots)(
            run.pk, [{"seq": 0, "t_s": 1.0, "rps": 10.0, "replication": 0}]
        )
        got = [
            await _until(s, "snapshots", lambda m: not m.get("backlog"))
            for s in (viewer, visitor)
        ]
        for s in (viewer, visitor):
            await s.disconnect()
        await _close_connections()
        return seen, got

    seen, got = asyncio.run(scenario_())
    expected = [
        {"label": "dave", "count": 1},
        {"label": SHARE_VISITOR_LABEL, "count": 1},
    ]
    assert [m["viewers"] for m in seen] == [expected, expected]
    assert [m["you"] for m in seen] == ["dave", SHARE_VISITOR_LABEL]
    assert [[i["seq"] for i in m["items"]] for m in got] == [[0], [0]]
    assert RunViewer.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_refused_socket_leaves_no_row(alice, mallory):
    run = make_run(alice, make_scenario(alice), status=Run.Status.RUNNING)
    cookie = _cookie(mallory)

    async def scenario_():
        s = _socket(run.pk, cookie=cookie)
        connected, _ = await s.connect(timeout=5)
        await s.disconnect()
        return connected

    assert asyncio.run(scenario_()) is False
    assert RunViewer.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_fifty_viewers_at_once_each_leave_one_row_then_none(alice):
    run = make_run(alice, make_scenario(alice), status=Run.Status.RUNNING)
    cookie = _cookie(alice)

    async def scenario_():
        sockets = [_socket(run.pk, cookie=cookie) for _ in range(50)]
        results = await asyncio.gather(*(s.connect(timeout=20) for s in sockets))
        assert all(ok for ok, _ in results)
        # Each row is written once its socket is accepted; the last join says 50.
        await _until(sockets[0], "presence", lambda m: m["viewers"][0]["count"] == 50)
        rows = await database_sync_to_async(RunViewer.objects.count)()
        counted = await database_sync_to_async(run_viewers)(run_id=run.pk)
        await asyncio.gather(*(s.disconnect() for s in sockets))
        await _close_connections()
        return rows, counted

    rows, counted = asyncio.run(scenario_())
    assert rows == 50
    assert counted == [{"label": "alice", "count": 50}]
    assert RunViewer.objects.count() == 0


# --- queued, replications, verdict ----------------------------------------------------


@pytest.mark.django_db
def test_a_queued_run_says_its_place_in_line_and_the_workers_up(alice, alice_client):
    from dashboard.runs.models import WorkerBeat

    scenario = make_scenario(alice)
    make_run(alice, scenario)
    second = make_run(alice, scenario)
    WorkerBeat.objects.create(hostname="w1@host", seen_at=timezone.now())
    WorkerBeat.objects.create(hostname="w2@host", seen_at=timezone.now())
    html = alice_client.get(f"/runs/{second.pk}/").content.decode()
    assert "Queued · 2nd in line · 2 workers up" in html

    running = make_run(alice, scenario, status=Run.Status.RUNNING)
    html = alice_client.get(f"/runs/{running.pk}/").content.decode()
    # Not queued: nothing is said (the span is there for live statuses).
    assert re.search(r'<span id="run-queue"[^>]*hidden></span>', html)


@pytest.mark.django_db
def test_the_replications_state_comes_with_the_page_and_the_means_with_the_report(
    alice, alice_client, monkeypatch
):
    from dashboard.runs import selectors

    parts = {
        "planned": 3,
        "parts": [
            {
                "replication": 0,
                "status": "succeeded",
                "worker": "w1@host",
                "attempts": 1,
                "progress": 1.0,
                "throughput_rps": 101.5,
                "p99_ms": 12.5,
                "error_rate": 0.0,
            }
        ],
    }
    monkeypatch.setattr(selectors, "run_parts_state", lambda *, run_id: parts)
    run = make_run(alice, make_scenario(alice), status=Run.Status.SUCCEEDED)
    Run.objects.filter(pk=run.pk).update(
        report={
            "replications": 3,
            "throughput_rps": 102.4,
            "latency_ms": {"p99": 12.5},
            "requests": {"offered": 1000, "errors": 5, "timeouts": 3, "rejected": 2},
            "ci95": {"throughput_rps": [93.5, 111.4], "latency_ms.p99": [12.1, 12.9]},
        }
    )
    html = alice_client.get(f"/runs/{run.pk}/").content.decode()
    state = json.loads(re.search(r'id="run-parts"[^>]*>(.*?)</script>', html).group(1))
    assert state == parts
    summary = re.search(r'id="replications-summary".*?</div>', html, re.S).group(0)
    assert "Over 3 replications" in summary
    assert "throughput 102.4 rps" in summary and "93.5 … 111.4" in summary
    assert "failed 1.0%" in summary
    region = alice_client.get(f"/runs/{run.pk}/report").content.decode()
    assert 'id="replications-summary" class="replications-summary"' in region
    assert 'data-testid="replications-summary" hx-swap-oob="true"' in region


@pytest.mark.django_db
def test_a_team_viewer_watches_without_cancel_or_what_if_and_cannot_post_them(
    alice, team, dave_client, carol_client
):
    scenario = scenario_create(owner=alice, text=SMALL_DOC, team=team)
    run = make_run(alice, scenario, status=Run.Status.RUNNING)
    viewer_page = dave_client.get(f"/runs/{run.pk}/").content.decode()
    assert 'id="cancel-form"' not in viewer_page
    assert 'data-testid="whatif"' not in viewer_page
    assert 'data-testid="run-canvas"' in viewer_page
    assert dave_client.post(f"/runs/{run.pk}/cancel").status_code == 403
    editor_page = carol_client.get(f"/runs/{run.pk}/").content.decode()
    assert 'id="cancel-form"' in editor_page and 'data-testid="whatif"' in editor_page
    run.refresh_from_db()
    assert run.status == Run.Status.RUNNING


@pytest.mark.django_db
def test_the_header_shows_the_verdict_and_the_report_region_carries_it_too(
    alice, alice_client
):
    run = make_run(alice, make_scenario(alice), status=Run.Status.SUCCEEDED)
    Run.objects.filter(pk=run.pk).update(
        report={
            "requests": {"offered": 1000, "completed": 860, "errors": 140},
            "throughput_rps": 86.0,
            "latency_ms": {"p99": 20.0},
        }
    )
    page = alice_client.get(f"/runs/{run.pk}/").content.decode()
    head = re.search(r'<span id="run-verdict-slot">(.*?)</span>\s*</span>', page, re.S)
    assert head and 'data-testid="run-verdict"' in head.group(1)
    assert "degraded" in head.group(1)
    region = alice_client.get(f"/runs/{run.pk}/report").content.decode()
    oob = re.search(
        r'<span id="run-verdict-slot" hx-swap-oob="true">(.*?)</span>\s*</span>',
        region,
        re.S,
    )
    assert oob and "degraded" in oob.group(1)
    # beside the status the header says only what the status does not: a plain
    # success adds nothing (not "succeeded" twice)
    Run.objects.filter(pk=run.pk).update(
        report={
            "requests": {"offered": 1000, "completed": 1000},
            "throughput_rps": 100.0,
        }
    )
    page = alice_client.get(f"/runs/{run.pk}/").content.decode()
    slot = re.search(r'<span id="run-verdict-slot">(.*?)</span>', page, re.S)
    assert slot and slot.group(1).strip() == ""


@pytest.mark.django_db
def test_a_page_opened_just_after_a_cancel_waits_for_the_workers_partial_report(
    alice, alice_client
):
    run = make_run(alice, make_scenario(alice), status=Run.Status.CANCELLED)

    def meta() -> dict:
        html = alice_client.get(f"/runs/{run.pk}/").content.decode()
        found = re.search(r'id="run-meta"[^>]*>(.*?)</script>', html)
        return json.loads(found.group(1))

    # The worker beat a moment ago: it may still store what it measured.
    Run.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
    assert meta()["report_pending"] is True
    # Its report is there: nothing to wait for.
    Run.objects.filter(pk=run.pk).update(report={"requests": {"offered": 1}})
    assert meta()["report_pending"] is False
    # No report, but the worker is long gone (or never ran it).
    old = timezone.now() - timedelta(seconds=settings.RUN_STALE_AFTER_S + 1)
    Run.objects.filter(pk=run.pk).update(report=None, heartbeat_at=old)
    assert meta()["report_pending"] is False
    Run.objects.filter(pk=run.pk).update(heartbeat_at=None)
    assert meta()["report_pending"] is False
