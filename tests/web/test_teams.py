"""Team pages: create a team, invite by username, change roles, remove, leave; the
last owner stays; an editor cannot manage members; an outsider gets 404 on every team
route with every method and changes nothing; unsafe methods need the CSRF token."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from dashboard.teams.models import Membership, Role, Team

pytestmark = pytest.mark.django_db
METHODS = ("get", "post", "put", "patch", "delete")


def _roles(team) -> dict[str, str]:
    return dict(
        Membership.objects.filter(team=team).values_list("user__username", "role")
    )


def _team_routes(team, member) -> list[str]:
    return [
        reverse("team_detail", args=[team.pk]),
        reverse("team_rename", args=[team.pk]),
        reverse("team_leave", args=[team.pk]),
        reverse("team_member_add", args=[team.pk]),
        reverse("team_member_role", args=[team.pk, member.pk]),
        reverse("team_member_remove", args=[team.pk, member.pk]),
    ]


def _state():
    return (
        tuple(Team.objects.values_list("pk", "name").order_by("pk")),
        tuple(Membership.objects.values_list("team", "user", "role").order_by("pk")),
    )


def test_alice_creates_a_team_and_becomes_its_owner(alice_client, alice):
    response = alice_client.post(reverse("team_new"), {"name": "  Payments  team "})
    team = Team.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("team_detail", args=[team.pk])
    assert team.name == "Payments team" and team.created_by == alice
    assert _roles(team) == {"alice": Role.OWNER}
    page = alice_client.get(reverse("team_list"))
    assert b"Payments team" in page.content and b"Owner" in page.content


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_a_bad_team_name_is_refused_naming_the_field(alice_client, name):
    response = alice_client.post(reverse("team_new"), {"name": name})
    assert response.status_code == 400
    assert b'aria-invalid="true"' in response.content
    assert b"team name" in response.content.lower()
    assert not Team.objects.exists()


def test_nul_in_a_team_name_is_refused_up_front(alice_client):
    response = alice_client.post(reverse("team_new"), {"name": "a\x00b"})
    assert response.status_code == 400 and b"name" in response.content
    assert not Team.objects.exists()


def test_the_owner_invites_by_username_with_a_role(team, alice_client, bob):
    url = reverse("team_member_add", args=[team.pk])
    response = alice_client.post(url, {"username": "bob", "role": "viewer"})
    assert response.status_code == 302
    assert _roles(team)["bob"] == Role.VIEWER
    page = alice_client.get(reverse("team_detail", args=[team.pk]))
    assert b'data-member="bob"' in page.content


def test_inviting_a_user_that_does_not_exist_names_the_username(team, alice_client):
    before = _state()
    response = alice_client.post(
        reverse("team_member_add", args=[team.pk]),
        {"username": "nobody", "role": "editor"},
    )
    assert response.status_code == 400
    assert b"No user is called" in response.content
    assert b'id="invite-username" name="username" type="text" value="nobody"' in (
        response.content
    )
    assert _state() == before


def test_an_unknown_role_is_refused(team, alice_client, bob):
    before = _state()
    response = alice_client.post(
        reverse("team_member_add", args=[team.pk]), {"username": "bob", "role": "god"}
    )
    assert response.status_code == 400 and b"role must be one of" in response.content
    response = alice_client.post(
        reverse("team_member_role", args=[team.pk, bob.pk]),
        {"role": "owner"},
    )
    assert response.status_code == 404  # bob is not a member
    assert _state() == before


def test_the_owner_changes_a_role_and_removes_a_member(team, alice_client, carol, dave):
    response = alice_client.post(
        reverse("team_member_role", args=[team.pk, carol.pk]), {"role": "owner"}
    )
    assert response.status_code == 302 and _roles(team)["carol"] == Role.OWNER
    response = alice_client.post(reverse("team_member_remove", args=[team.pk, dave.pk]))
    assert response.status_code == 302 and "dave" not in _roles(team)


def test_a_member_leaves_and_the_last_owner_cannot(team, alice_client, dave_client):
    response = dave_client.post(reverse("team_leave", args=[team.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("team_list")
    assert "dave" not in _roles(team)
    before = _state()
    response = alice_client.post(reverse("team_leave", args=[team.pk]))
    assert response.status_code == 400
    assert b"only owner" in response.content
    response = alice_client.post(
        reverse("team_member_role", args=[team.pk, team.created_by.pk]),
        {"role": "viewer"},
    )
    assert response.status_code == 400 and b"only owner" in response.content
    assert _state() == before


def test_an_owner_may_leave_once_another_owner_exists(team, alice_client, carol):
    Membership.objects.filter(team=team, user=carol).update(role=Role.OWNER)
    response = alice_client.post(reverse("team_leave", args=[team.pk]))
    assert response.status_code == 302 and "alice" not in _roles(team)
    assert alice_client.get(reverse("team_detail", args=[team.pk])).status_code == 404


def test_the_owner_renames_the_team(team, alice_client):
    response = alice_client.post(
        reverse("team_rename", args=[team.pk]), {"name": "Core"}
    )
    assert response.status_code == 302
    assert Team.objects.get(pk=team.pk).name == "Core"
    response = alice_client.post(reverse("team_rename", args=[team.pk]), {"name": " "})
    assert response.status_code == 400 and b"Give the team a name" in response.content
    assert Team.objects.get(pk=team.pk).name == "Core"


def test_an_editor_or_viewer_cannot_manage_members_or_rename(
    team, carol_client, dave_client, alice, bob
):
    before = _state()
    for client in (carol_client, dave_client):
        page = client.get(reverse("team_detail", args=[team.pk]))
        assert page.status_code == 200
        assert b"Invite a member" not in page.content
        assert b"Remove" not in page.content
        for url, data in [
            (reverse("team_member_add", args=[team.pk]), {"username": "bob"}),
            (reverse("team_member_role", args=[team.pk, alice.pk]), {"role": "viewer"}),
            (reverse("team_member_remove", args=[team.pk, alice.pk]), {}),
            (reverse("team_rename", args=[team.pk]), {"name": "Mine now"}),
        ]:
            assert client.post(url, data).status_code == 403, url
    assert _state() == before


def test_the_team_page_lists_members_with_roles_and_the_team_scenarios(
    team_scenario, team, dave_client
):
    page = dave_client.get(reverse("team_detail", args=[team.pk]))
    content = page.content.decode()
    for name in ("alice", "carol", "dave"):
        assert f'data-member="{name}"' in content
    assert "role-owner" in content and "role-editor" in content
    assert team_scenario.name in content
    assert "You are a viewer" in content
    assert "New scenario in" not in content  # viewers do not create


def test_mallory_gets_404_on_every_team_route_with_every_method(
    team, mallory_client, alice
):
    before = _state()
    for url in _team_routes(team, alice):
        codes = set()
        for method in METHODS:
            response = getattr(mallory_client, method)(
                url, data={"name": "pwned", "username": "mallory", "role": "owner"}
            )
            assert response.status_code in (404, 405), (url, method)
            codes.add(response.status_code)
        assert 404 in codes, url
    assert _state() == before
    assert b"Platform" not in mallory_client.get(reverse("team_list")).content


def test_unsafe_team_routes_refuse_a_post_without_csrf(team, alice, mallory):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    before = _state()
    for url in [*_team_routes(team, alice)[1:], reverse("team_new")]:
        response = client.post(
            url, {"name": "x", "username": "mallory", "role": "owner"}
        )
        assert response.status_code == 403, url
    assert _state() == before


def test_anonymous_users_are_sent_to_log_in(team, alice):
    client = Client()
    for url in [*_team_routes(team, alice), reverse("team_list")]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_a_team_name_with_markup_is_shown_as_text(alice_client):
    alice_client.post(reverse("team_new"), {"name": "<script>alert(1)</script>"})
    team = Team.objects.get()
    for url in (reverse("team_list"), reverse("team_detail", args=[team.pk])):
        content = alice_client.get(url).content
        assert b"<script>alert(1)</script>" not in content
        assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in content


def test_the_header_links_to_teams(alice_client):
    page = alice_client.get(reverse("scenario_list"))
    assert f'href="{reverse("team_list")}"'.encode() in page.content
