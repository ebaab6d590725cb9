"""Live what-if from the web side: who may inject, what is refused and why, where an
injection lands in each replication, the pace a run is started with, "Run again".

The end-to-end path with a real worker (two injections land, "Run again" gives the
same report byte for byte) is in test_whatif_worker.py.
"""

from __future__ import annotations

import html
import threading

import pytest
from django.db import close_old_connections
from django.test import Client
from django.urls import reverse

from dashboard.runs import whatif
from dashboard.runs.models import Run, RunInjection
from dashboard.runs.whatif_services import (
    InjectionRefused,
    pace_parse,
    run_again,
    run_inject,
)
from dashboard.runs.whatif_views import whatif_context
from dashboard.sharing.services import share_link_create
from tests.web.factories import SMALL_DOC, make_run, make_scenario

pytestmark = pytest.mark.django_db


def _inject(client: Client, run: Run, **data):
    return client.post(
        reverse("run_inject", args=[run.pk]), data, HTTP_HX_REQUEST="true"
    )


@pytest.fixture
def running(alice):
    scenario = make_scenario(alice)
    return make_run(alice, scenario, status=Run.Status.RUNNING)


def test_an_editor_injects_a_fault_and_it_is_stored_with_who_did_it(
    alice_client, running
):
    response = _inject(
        alice_client,
        running,
        action="fault",
        component="web",
        target="instance:1",
        for_s="30",
    )
    assert response.status_code == 200, response.content
    assert b"Injected: fault: web instance 1 down for 30 s" in response.content
    row = RunInjection.objects.get(run=running)
    assert row.spec == {
        "action": "fault",
        "component": "web",
        "instance": 1,
        "for_s": 30.0,
        "by": "alice",
    }
    assert row.landed_t_s is None


def test_a_spike_and_a_restore_from_the_form(alice_client, running):
    assert (
        _inject(
            alice_client, running, action="spike", factor="4", for_s="10"
        ).status_code
        == 200
    )
    RunInjection.objects.update(created_at="2000-01-01T00:00:00Z")  # past the interval
    assert (
        _inject(
            alice_client,
            running,
            action="restore",
            component="web",
            target="all",
            for_s="9",
        ).status_code
        == 200
    )
    specs = list(RunInjection.objects.values_list("spec", flat=True))
    assert specs[0] == {"action": "spike", "factor": 4.0, "for_s": 10.0, "by": "alice"}
    assert specs[1] == {"action": "restore", "component": "web", "by": "alice"}


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"action": "fault", "component": "nope"}, "component", "no component 'nope'"),
        (
            {"action": "fault", "component": "web", "target": "instance:9"},
            "instance",
            "instances 0..1",
        ),
        (
            {"action": "fault", "component": "web", "target": "elbow"},
            "target",
            "unknown target",
        ),
        (
            {"action": "fault", "component": "web", "for_s": "soon"},
            "for_s",
            "must be a number",
        ),
        (
            {"action": "fault", "component": "web", "for_s": "-3"},
            "for_s",
            "must be > 0",
        ),
        ({"action": "spike", "factor": "3"}, "for_s", "needs a duration"),
        ({"action": "spike", "factor": "1e6", "for_s": "3"}, "factor", "at most 100"),
        ({"action": "launch", "component": "web"}, "action", "must be one of"),
        (
            {
                "action": "fault",
                "component": "lb",
                "target": "instance:0",
                "for_s": "nan",
            },
            "for_s",
            "",
        ),
    ],
)
def test_a_bad_injection_is_a_400_naming_the_field_and_stores_nothing(
    alice_client, running, data, field, words
):
    response = _inject(alice_client, running, **data)
    assert response.status_code == 400
    text = html.unescape(response.content.decode())
    assert f"<strong>{field}</strong>" in text, text
    assert words in text
    assert not RunInjection.objects.exists()


def test_nul_bytes_and_lone_surrogates_are_refused_before_anything(
    alice_client, running
):
    response = _inject(alice_client, running, action="fault", component="we\x00b")
    assert response.status_code == 400 and b"NUL" in response.content
    body = "action=fault&component=%ED%A0%80"
    response = alice_client.post(
        reverse("run_inject", args=[running.pk]),
        body,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400
    assert not RunInjection.objects.exists()


def test_who_may_inject(alice, carol, dave, mallory, team, running):
    scenario = make_scenario(alice)
    scenario.owner, scenario.team = None, team
    scenario.save()
    run = make_run(alice, scenario, status=Run.Status.RUNNING)
    data = {"action": "fault", "component": "web"}
    for user, status in ((carol, 200), (dave, 403), (mallory, 404)):
        client = Client()
        client.force_login(user)
        assert _inject(client, run, **data).status_code == status, user
        RunInjection.objects.update(created_at="2000-01-01T00:00:00Z")
    assert Client().post(reverse("run_inject", args=[run.pk]), data).status_code == 302
    assert RunInjection.objects.filter(run=run).count() == 1
    # another user's run id: nothing to see
    other = Client()
    other.force_login(mallory)
    assert _inject(other, running, **data).status_code == 404


def test_the_panel_shows_only_to_editors_of_an_active_run(alice, dave, team, running):
    running.perms = frozenset({"view", "edit"})
    ctx = whatif_context(run=running, user=alice)["whatif"]
    assert [c["id"] for c in ctx["components"]] == ["lb", "web"]
    assert [t["value"] for t in ctx["components"][1]["targets"]] == [
        "all",
        "instance:0",
        "instance:1",
    ]
    running.perms = frozenset({"view"})
    assert whatif_context(run=running, user=dave) == {"whatif": None}
    running.perms = frozenset({"view", "edit"})
    running.status = Run.Status.SUCCEEDED
    assert whatif_context(run=running, user=alice) == {"whatif": None}


def test_a_shared_link_visitor_cannot_inject(alice, running):
    _link, token = share_link_create(scenario=running.scenario, created_by=alice)
    response = Client().post(
        f"/s/{token}/runs/{running.pk}/inject", {"action": "fault", "component": "web"}
    )
    assert response.status_code in (403, 404, 405)
    assert not RunInjection.objects.exists()


def test_a_finished_run_refuses_injections_with_a_reason(alice_client, alice):
    run = make_run(alice, make_scenario(alice), status=Run.Status.SUCCEEDED)
    response = _inject(alice_client, run, action="fault", component="web")
    assert response.status_code == 409
    assert b"The run has succeeded" in response.content


def test_one_user_may_not_inject_twice_within_the_interval(alice_client, running):
    assert (
        _inject(alice_client, running, action="fault", component="web").status_code
        == 200
    )
    response = _inject(alice_client, running, action="restore", component="web")
    assert response.status_code == 409 and b"wait a moment" in response.content


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_injections_never_pass_the_per_run_limit(settings, alice):
    settings.RUN_MAX_INJECTIONS = 5
    settings.RUN_INJECTION_INTERVAL_S = 0.0
    run = make_run(alice, make_scenario(alice), status=Run.Status.RUNNING)
    outcomes: list[str] = []
    lock = threading.Lock()

    def one():
        try:
            run_inject(run=run, user=alice, raw={"action": "fault", "component": "web"})
            result = "ok"
        except InjectionRefused:
            result = "refused"
        finally:
            close_old_connections()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=one) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 5 and outcomes.count("refused") == 45
    assert RunInjection.objects.filter(run=run).count() == 5


def test_an_injection_lands_at_the_same_time_in_every_replication(alice, running):
    RunInjection.objects.create(
        run=running, spec={"action": "spike", "factor": 2, "for_s": 1}, text="x"
    )
    first = whatif.part_feed(run_id=running.pk, replication=0)
    assert first(0, 3.0) == [{"action": "spike", "factor": 2, "for_s": 1}]
    assert RunInjection.objects.get().landed_t_s == 3.0
    behind = whatif.part_feed(run_id=running.pk, replication=1)
    assert behind(1, 1.0) == []
    behind.last_poll = -1e9  # a later look (the feed polls at most every 0.25 s)
    assert behind(1, 2.0) == []
    assert behind(1, 3.0) == [{"action": "spike", "factor": 2, "for_s": 1}]
    assert behind(1, 4.0) == []  # once
    ahead = whatif.part_feed(run_id=running.pk, replication=2)
    assert ahead(2, 7.0) == [{"action": "spike", "factor": 2, "for_s": 1}]  # at once


def test_a_replay_feed_hands_back_each_replications_own_events(running):
    events = [
        {
            "kind": "injected",
            "replication": 0,
            "t_s": 5.0,
            "injection": {"action": "fault", "component": "web"},
        },
        {
            "kind": "injected",
            "replication": 1,
            "t_s": 6.0,
            "injection": {"action": "restore", "component": "web"},
        },
        {"kind": "instance_down", "replication": 0, "t_s": 5.0},
    ]
    feed = whatif.part_feed(run_id=running.pk, replication=0, replay_events=events)
    assert feed(0, 5.0) == [{"action": "fault", "component": "web"}]
    assert feed(1, 5.0) == [] and feed(1, 6.0) == [
        {"action": "restore", "component": "web"}
    ]


@pytest.mark.parametrize("raw", ["abc", "0", "-2", "inf", "nan", "1e9", "1,5"])
def test_a_bad_pace_is_refused_naming_it(raw):
    import simengine

    with pytest.raises(simengine.DocumentError) as err:
        pace_parse(raw)
    assert err.value.errors[0].path == "pace"


def test_the_run_button_takes_a_pace_and_a_bad_one_saves_nothing(alice_client, alice):
    scenario = make_scenario(alice)
    url = reverse("scenario_run", args=[scenario.pk])
    bad = alice_client.post(
        url, {"document": SMALL_DOC.replace("seed: 7", "seed: 8"), "pace": "fast"}
    )
    assert bad.status_code == 400 and b"pace" in bad.content
    assert not Run.objects.exists() and scenario.versions.count() == 1
    ok = alice_client.post(url, {"document": SMALL_DOC, "pace": "5"})
    assert ok.status_code == 302
    assert Run.objects.get().pace == 5.0
    page = alice_client.get(reverse("scenario_detail", args=[scenario.pk]))
    assert b'name="pace"' in page.content and b"Live, 5" in page.content


def test_run_again_repeats_document_seed_pace_and_injected_events(alice, alice_client):
    scenario = make_scenario(alice)
    run = make_run(alice, scenario, status=Run.Status.SUCCEEDED)
    run.pace, run.seed = 10.0, 99
    injected = {
        "kind": "injected",
        "replication": 0,
        "t_s": 4.0,
        "text": "t",
        "component": "web",
        "injection": {"action": "fault", "component": "web"},
    }
    run.report = {
        "event_log": [injected, {"kind": "instance_down", "replication": 0, "t_s": 4.0}]
    }
    run.save()
    response = alice_client.post(reverse("run_again", args=[run.pk]))
    assert response.status_code == 302
    again = Run.objects.exclude(pk=run.pk).get()
    assert response["Location"] == reverse("run_detail", args=[again.pk])
    assert (again.document_text, again.seed, again.pace) == (
        run.document_text,
        99,
        10.0,
    )
    assert again.replay_of == run and again.replay_events == [injected]
    assert again.status == Run.Status.QUEUED
    assert run_again(run=run, owner=alice).replay_events == [injected]


def test_run_again_needs_edit(alice, dave, mallory, team):
    scenario = make_scenario(alice)
    scenario.owner, scenario.team = None, team
    scenario.save()
    run = make_run(alice, scenario, status=Run.Status.SUCCEEDED)
    for user, status in ((dave, 403), (mallory, 404)):
        client = Client()
        client.force_login(user)
        assert client.post(reverse("run_again", args=[run.pk])).status_code == status
    assert Run.objects.count() == 1
