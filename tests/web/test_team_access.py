"""Team scenarios through the one authorization table (`dashboard.access`): viewers
read, editors edit and run, owners manage; everyone else gets 404 and changes nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dashboard.access import Perm, scenario_perms
from dashboard.runs.models import Run
from dashboard.scenarios.models import Scenario, ScenarioVersion
from dashboard.scenarios.selectors import scenarios_for_user
from dashboard.teams.models import Membership, Role
from dashboard.teams.services import TeamError, member_remove, member_set_role
from tests.web.factories import SMALL_DOC

pytestmark = pytest.mark.django_db


MORE_LOAD = SMALL_DOC.replace("rps: 100", "rps: 120")


def _save(client, scenario, text=MORE_LOAD):
    base = scenario.latest_version.number
    return client.post(
        reverse("scenario_detail", args=[scenario.pk]),
        {"document": text, "base_version": base, "message": "more load"},
    )


def test_roles_map_to_permissions(team_scenario, alice, carol, dave, mallory):
    assert scenario_perms(alice, team_scenario) == frozenset(Perm)
    assert scenario_perms(carol, team_scenario) == {Perm.VIEW, Perm.EDIT}
    assert scenario_perms(dave, team_scenario) == {Perm.VIEW}
    assert scenario_perms(mallory, team_scenario) == frozenset()


def test_every_member_sees_the_team_scenario_and_an_outsider_does_not(
    team_scenario, alice, carol, dave, mallory
):
    for user in (alice, carol, dave):
        assert list(scenarios_for_user(user=user)) == [team_scenario]
    assert not scenarios_for_user(user=mallory).exists()


def test_a_viewer_reads_but_cannot_save_or_run(team_scenario, dave_client):
    url = reverse("scenario_detail", args=[team_scenario.pk])
    assert dave_client.get(url).status_code == 200
    versions = ScenarioVersion.objects.count()
    runs = Run.objects.count()
    assert _save(dave_client, team_scenario).status_code == 403
    response = dave_client.post(
        reverse("scenario_run", args=[team_scenario.pk]),
        {"document": SMALL_DOC, "base_version": 1},
    )
    assert response.status_code == 403
    assert (ScenarioVersion.objects.count(), Run.objects.count()) == (versions, runs)
    run = team_scenario.runs.get()
    assert dave_client.get(reverse("run_detail", args=[run.pk])).status_code == 200
    response = dave_client.post(reverse("run_cancel", args=[run.pk]))
    assert response.status_code == 403
    assert Run.objects.get(pk=run.pk).status == Run.Status.QUEUED


def test_an_editor_saves_a_version_authored_by_them(team_scenario, carol, carol_client):
    assert _save(carol_client, team_scenario).status_code == 302
    latest = team_scenario.versions.order_by("-number").first()
    assert (latest.number, latest.author, latest.message) == (2, carol, "more load")


def test_an_outsider_gets_404_for_the_scenario_and_its_run(
    team_scenario, mallory_client
):
    run = team_scenario.runs.get()
    for url in (
        reverse("scenario_detail", args=[team_scenario.pk]),
        reverse("scenario_version", args=[team_scenario.pk, 1]),
        reverse("run_detail", args=[run.pk]),
    ):
        assert mallory_client.get(url).status_code == 404
    assert _save(mallory_client, team_scenario).status_code == 404
    assert mallory_client.post(reverse("run_cancel", args=[run.pk])).status_code == 404
    assert team_scenario.versions.count() == 1


def test_a_removed_member_loses_access_at_once(team, team_scenario, dave, dave_client):
    url = reverse("scenario_detail", args=[team_scenario.pk])
    assert dave_client.get(url).status_code == 200
    member_remove(team=team, user=dave)
    assert dave_client.get(url).status_code == 404


def test_the_last_owner_cannot_leave_or_step_down(team, alice):
    with pytest.raises(TeamError, match="only owner"):
        member_remove(team=team, user=alice)
    with pytest.raises(TeamError, match="only owner"):
        member_set_role(team=team, user=alice, role=Role.VIEWER)
    assert Membership.objects.get(team=team, user=alice).role == Role.OWNER


def test_a_scenario_belongs_to_a_user_or_a_team_never_both(team, alice):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Scenario.objects.create(name="both", owner=alice, team=team)
    with pytest.raises(IntegrityError), transaction.atomic():
        Scenario.objects.create(name="neither")


@pytest.mark.django_db(transaction=True)
def test_a_team_viewer_may_subscribe_to_the_run_stream_and_an_outsider_may_not(
    team_scenario, dave, mallory
):
    import asyncio

    from channels.layers import channel_layers
    from channels.testing import WebsocketCommunicator
    from django.conf import settings
    from django.test import Client

    from dashboard.asgi import application

    run = team_scenario.runs.get()

    def cookie(user) -> bytes:
        client = Client()
        client.force_login(user)
        value = client.cookies[settings.SESSION_COOKIE_NAME].value
        return f"{settings.SESSION_COOKIE_NAME}={value}".encode()

    async def connects(cookie_header: bytes) -> bool:
        communicator = WebsocketCommunicator(
            application,
            f"/ws/runs/{run.pk}/?after=-1",
            headers=[
                (b"origin", b"http://127.0.0.1"),
                (b"host", b"127.0.0.1"),
                (b"cookie", cookie_header),
            ],
        )
        connected, _ = await communicator.connect(timeout=5)
        await communicator.disconnect()
        return connected

    channel_layers.backends.clear()
    try:
        assert asyncio.run(connects(cookie(dave)))
        channel_layers.backends.clear()
        assert not asyncio.run(connects(cookie(mallory)))
    finally:
        channel_layers.backends.clear()
