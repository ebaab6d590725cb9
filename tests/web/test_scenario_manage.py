"""Managing scenarios: a name on "New scenario" and where it lives, rename (a new
version, kept by the next save), delete after a confirmation (runs stay with their
starters), move to a team in one step, examples and viewer pages read-only, and the
list's owner filter and search."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from dashboard.runs.models import Run
from dashboard.scenarios.models import Scenario, ScenarioVersion
from dashboard.scenarios.services import example_upsert
from tests.web.factories import SMALL_DOC, make_run, make_scenario

pytestmark = pytest.mark.django_db


def _save(client, scenario, text, message="edit"):
    return client.post(
        reverse("scenario_detail", args=[scenario.pk]),
        {
            "document": text,
            "base_version": scenario.versions.count(),
            "message": message,
        },
    )


def _scenarios():
    return tuple(
        Scenario.objects.values_list("pk", "name", "owner", "team").order_by("pk")
    )


# --- New scenario --------------------------------------------------------------------


def test_new_scenario_asks_for_a_name_and_where_it_lives(alice_client, team):
    page = alice_client.get(reverse("scenario_new"))
    assert page.status_code == 200
    assert b'name="name"' in page.content
    assert f'value="team-{team.pk}"'.encode() in page.content


def test_new_personal_scenario_carries_the_name_in_its_document(alice_client, alice):
    response = alice_client.post(
        reverse("scenario_new"), {"name": "Checkout: v2 #1", "where": "me"}
    )
    scenario = Scenario.objects.get()
    assert response["Location"] == reverse("scenario_detail", args=[scenario.pk])
    assert (scenario.name, scenario.owner, scenario.team) == (
        "Checkout: v2 #1",
        alice,
        None,
    )
    assert "name: 'Checkout: v2 #1'" in scenario.latest_version.document_text


def test_new_team_scenario_needs_an_edit_role_in_the_team(
    team, alice_client, carol_client, dave_client
):
    where = f"team-{team.pk}"
    response = carol_client.post(
        reverse("scenario_new"), {"name": "Carol's", "where": where}
    )
    assert response.status_code == 302
    assert Scenario.objects.get().team == team
    before = _scenarios()
    response = dave_client.post(reverse("scenario_new"), {"name": "x", "where": where})
    assert response.status_code == 400
    assert b"a team where you are an editor or an owner" in response.content
    assert _scenarios() == before


@pytest.mark.parametrize(
    "data, message",
    [
        ({"name": "", "where": "me"}, b"Give the scenario a name."),
        ({"name": "   ", "where": "me"}, b"Give the scenario a name."),
        ({"name": "x" * 201, "where": "me"}, b"at most 200 characters"),
        ({"name": "ok", "where": "team-999999"}, b"a team where you are an editor"),
        ({"name": "ok", "where": "team-abc"}, b"a team where you are an editor"),
    ],
)
def test_a_bad_new_scenario_form_says_which_field_and_saves_nothing(
    alice_client, data, message
):
    response = alice_client.post(reverse("scenario_new"), data)
    assert response.status_code == 400
    assert message in response.content and b'aria-invalid="true"' in response.content
    assert not Scenario.objects.exists()


def test_mallory_cannot_create_in_alices_team(team, mallory_client):
    response = mallory_client.post(
        reverse("scenario_new"), {"name": "in", "where": f"team-{team.pk}"}
    )
    assert response.status_code == 400 and not Scenario.objects.exists()


# --- Rename --------------------------------------------------------------------------


def test_rename_is_a_new_version_and_the_next_save_keeps_it(alice_client, alice):
    scenario = make_scenario(alice)
    response = alice_client.post(
        reverse("scenario_rename", args=[scenario.pk]), {"name": "Front door"}
    )
    assert response.status_code == 302
    scenario.refresh_from_db()
    latest = scenario.latest_version
    assert (scenario.name, latest.number, latest.author) == ("Front door", 2, alice)
    assert "name: Front door\n" in latest.document_text
    # The editor now shows the renamed text: saving it keeps the name.
    page = alice_client.get(reverse("scenario_detail", args=[scenario.pk]))
    assert b"name: Front door" in page.content
    edited = latest.document_text.replace("rps: 100", "rps: 150")
    assert _save(alice_client, scenario, edited).status_code == 302
    scenario.refresh_from_db()
    assert scenario.name == "Front door" and scenario.versions.count() == 3


def test_a_save_from_an_editor_opened_before_the_rename_is_a_conflict(
    alice_client, alice
):
    scenario = make_scenario(alice)
    alice_client.post(reverse("scenario_rename", args=[scenario.pk]), {"name": "New"})
    response = alice_client.post(
        reverse("scenario_detail", args=[scenario.pk]),
        {"document": SMALL_DOC, "base_version": 1, "message": "stale"},
    )
    assert response.status_code == 409
    assert Scenario.objects.get(pk=scenario.pk).name == "New"


def test_a_json_document_is_renamed_as_json(alice_client, alice):
    import json

    import yaml

    text = json.dumps(yaml.safe_load(SMALL_DOC), indent=2)
    scenario = make_scenario(alice, text=text)
    alice_client.post(reverse("scenario_rename", args=[scenario.pk]), {"name": "J"})
    assert json.loads(scenario.latest_version.document_text)["name"] == "J"


def test_a_bad_rename_is_refused_and_writes_nothing(alice_client, alice):
    scenario = make_scenario(alice)
    for name, message in [("", b"Give the scenario a name."), ("y" * 300, b"at most")]:
        response = alice_client.post(
            reverse("scenario_rename", args=[scenario.pk]), {"name": name}
        )
        assert response.status_code == 400 and message in response.content
    response = alice_client.post(
        reverse("scenario_rename", args=[scenario.pk]), {"name": "a\x00"}
    )
    assert response.status_code == 400
    assert scenario.versions.count() == 1
    assert Scenario.objects.get(pk=scenario.pk).name == "Small web tier"


def test_editors_rename_team_scenarios_and_viewers_may_not(
    team_scenario, carol_client, dave_client, mallory_client
):
    url = reverse("scenario_rename", args=[team_scenario.pk])
    assert dave_client.post(url, {"name": "viewer"}).status_code == 403
    assert mallory_client.post(url, {"name": "outsider"}).status_code == 404
    assert Scenario.objects.get(pk=team_scenario.pk).name == "Small web tier"
    assert carol_client.post(url, {"name": "Team tier"}).status_code == 302
    assert Scenario.objects.get(pk=team_scenario.pk).name == "Team tier"


# --- Delete --------------------------------------------------------------------------


def test_delete_asks_first_then_deletes_and_runs_stay_with_their_starter(
    alice_client, alice
):
    scenario = make_scenario(alice)
    run = make_run(alice, scenario)
    url = reverse("scenario_delete", args=[scenario.pk])
    page = alice_client.get(url)
    assert page.status_code == 200
    assert b"1 run stays visible" in page.content
    assert b'name="confirm" value="yes"' in page.content
    # A POST without the confirmation deletes nothing.
    assert alice_client.post(url).status_code == 400
    assert Scenario.objects.filter(pk=scenario.pk).exists()
    response = alice_client.post(url, {"confirm": "yes"})
    assert response.status_code == 302 and response["Location"] == reverse(
        "scenario_list"
    )
    assert not Scenario.objects.filter(pk=scenario.pk).exists()
    assert not ScenarioVersion.objects.filter(scenario_id=scenario.pk).exists()
    run.refresh_from_db()
    assert run.scenario is None and run.version is None
    assert alice_client.get(reverse("run_detail", args=[run.pk])).status_code == 200


def test_only_team_owners_delete_a_team_scenario(
    team_scenario, alice_client, carol_client, dave_client, mallory_client
):
    url = reverse("scenario_delete", args=[team_scenario.pk])
    for client, code in [
        (carol_client, 403),
        (dave_client, 403),
        (mallory_client, 404),
    ]:
        assert client.get(url).status_code == code
        assert client.post(url, {"confirm": "yes"}).status_code == code
    assert Scenario.objects.filter(pk=team_scenario.pk).exists()
    page = carol_client.get(reverse("scenario_detail", args=[team_scenario.pk]))
    assert b"Delete\xe2\x80\xa6" not in page.content  # "Delete…" is for owners
    assert alice_client.post(url, {"confirm": "yes"}).status_code == 302
    assert not Scenario.objects.filter(pk=team_scenario.pk).exists()
    assert Run.objects.count() == 1  # the run stays, for alice who started it


def test_an_example_cannot_be_deleted(alice_client):
    example, _ = example_upsert(slug="small", text=SMALL_DOC)
    url = reverse("scenario_delete", args=[example.pk])
    assert alice_client.post(url, {"confirm": "yes"}).status_code == 403
    assert Scenario.objects.filter(pk=example.pk).exists()


# --- Move to a team ------------------------------------------------------------------


def test_move_a_personal_scenario_to_a_team_in_one_step(
    team, alice_client, alice, dave_client
):
    scenario = make_scenario(alice)
    run = make_run(alice, scenario)
    page = alice_client.get(reverse("scenario_move", args=[scenario.pk]))
    assert f'value="team-{team.pk}"'.encode() in page.content
    response = alice_client.post(
        reverse("scenario_move", args=[scenario.pk]), {"team": f"team-{team.pk}"}
    )
    assert response.status_code == 302
    scenario.refresh_from_db()
    assert (scenario.owner, scenario.team) == (None, team)
    assert scenario.versions.count() == 1 and run.scenario_id == scenario.pk
    # Now the team's roles decide: dave (viewer) reads it.
    assert dave_client.get(
        reverse("scenario_detail", args=[scenario.pk])
    ).status_code == (200)


def test_moving_needs_an_edit_role_in_the_target_team(
    team, alice, dave, dave_client, mallory_client
):
    scenario = make_scenario(dave)
    before = _scenarios()
    response = dave_client.post(
        reverse("scenario_move", args=[scenario.pk]), {"team": f"team-{team.pk}"}
    )
    assert response.status_code == 400  # dave only views in the team
    assert b"a team where you are an editor" in response.content
    response = mallory_client.post(
        reverse("scenario_move", args=[scenario.pk]), {"team": f"team-{team.pk}"}
    )
    assert response.status_code == 404
    assert _scenarios() == before


def test_a_team_scenario_is_not_moved_again(team_scenario, team, alice_client):
    response = alice_client.post(
        reverse("scenario_move", args=[team_scenario.pk]), {"team": f"team-{team.pk}"}
    )
    assert response.status_code == 400
    assert b"Only a personal scenario" in response.content


# --- Read-only pages -----------------------------------------------------------------


def test_opening_an_example_shows_it_read_only_with_make_a_copy(alice_client, alice):
    example, _ = example_upsert(slug="small", text=SMALL_DOC)
    listing = alice_client.get(reverse("scenario_list")).content.decode()
    assert reverse("scenario_detail", args=[example.pk]) in listing
    assert reverse("example_copy", args=["small"]) not in listing  # no copy on open
    page = alice_client.get(reverse("scenario_detail", args=[example.pk]))
    content = page.content.decode()
    assert page.status_code == 200 and not Scenario.objects.filter(owner=alice)
    assert 'data-readonly="true"' in content
    assert "Save version" not in content and 'name="message"' not in content
    assert reverse("scenario_run", args=[example.pk]) not in content
    assert "built-in example" in content
    assert f'action="{reverse("example_copy", args=["small"])}"' in content
    response = alice_client.post(reverse("example_copy", args=["small"]))
    copy = Scenario.objects.get(owner=alice)
    assert response["Location"] == reverse("scenario_detail", args=[copy.pk])
    assert (
        'data-readonly="true"'
        not in alice_client.get(response["Location"]).content.decode()
    )


def test_writes_to_an_example_are_refused(alice_client):
    example, _ = example_upsert(slug="small", text=SMALL_DOC)
    for name in ("scenario_detail", "scenario_run", "scenario_rename"):
        response = alice_client.post(
            reverse(name, args=[example.pk]),
            {"document": SMALL_DOC, "base_version": 1, "name": "mine"},
        )
        assert response.status_code == 403, name
    assert example.versions.count() == 1 and Run.objects.count() == 0


def test_a_team_viewer_sees_a_read_only_page_and_posts_get_403(
    team_scenario, team, dave_client
):
    page = dave_client.get(reverse("scenario_detail", args=[team_scenario.pk]))
    content = page.content.decode()
    assert 'data-readonly="true"' in content
    assert "Save version" not in content and 'name="message"' not in content
    assert (
        'method="post" action="' + reverse("scenario_detail", args=[team_scenario.pk])
        not in content
    )
    assert f"you are a viewer of {team.name}" in content
    assert reverse("scenario_rename", args=[team_scenario.pk]) not in content
    assert "Move to team" not in content
    versions, runs = ScenarioVersion.objects.count(), Run.objects.count()
    for name in (
        "scenario_detail",
        "scenario_run",
        "scenario_validate",
        "scenario_rename",
        "scenario_move",
        "scenario_delete",
    ):
        response = dave_client.post(
            reverse(name, args=[team_scenario.pk]),
            {"document": SMALL_DOC, "base_version": 1, "name": "x", "confirm": "yes"},
        )
        assert response.status_code == 403, name
    assert (ScenarioVersion.objects.count(), Run.objects.count()) == (versions, runs)


def test_an_editor_page_is_editable(team_scenario, carol_client):
    content = carol_client.get(
        reverse("scenario_detail", args=[team_scenario.pk])
    ).content.decode()
    assert 'data-readonly="true"' not in content and "Save version" in content


# --- The list ------------------------------------------------------------------------


@pytest.fixture
def listing(alice, team):
    mine = make_scenario(alice)
    Scenario.objects.filter(pk=mine.pk).update(name="Alice checkout")
    from dashboard.scenarios.services import scenario_create

    team_one = scenario_create(
        owner=alice, text=SMALL_DOC.replace("Small web tier", "Team search"), team=team
    )
    example, _ = example_upsert(slug="small", text=SMALL_DOC)
    return {"mine": mine, "team": team_one, "example": example}


def _names(response) -> set[str]:
    from html.parser import HTMLParser

    found: set[str] = set()

    class P(HTMLParser):
        inside = False

        def handle_starttag(self, tag, attrs):
            href = dict(attrs).get("href") or ""
            self.inside = tag == "a" and re.match(r"^/scenarios/\d+/$", href)

        def handle_data(self, data):
            if self.inside and data.strip():
                found.add(data.strip())
                self.inside = False

    P().feed(response.content.decode())
    return found


def test_the_list_filters_by_owner(listing, team, alice_client):
    url = reverse("scenario_list")
    assert {"Alice checkout", "Team search"} <= _names(alice_client.get(url))
    assert "Small web tier" in alice_client.get(url).content.decode()  # an example
    mine = alice_client.get(url, {"owner": "mine"})
    assert _names(mine) == {"Alice checkout"}
    in_team = alice_client.get(url, {"owner": f"team-{team.pk}"})
    assert _names(in_team) == {"Team search"}
    examples = alice_client.get(url, {"owner": "examples"})
    assert "Alice checkout" not in _names(examples)
    assert 'aria-label="Open the example Small web tier"' in examples.content.decode()


def test_the_list_searches_by_name_within_the_filter(listing, team, alice_client):
    url = reverse("scenario_list")
    assert _names(alice_client.get(url, {"q": "search"})) == {"Team search"}
    response = alice_client.get(url, {"q": "search", "owner": "mine"})
    assert _names(response) == set()
    assert "No scenario here has" in response.content.decode()


def test_each_row_shows_the_owner_and_the_latest_author_and_time(
    listing, team, alice_client, carol_client
):
    scenario = listing["team"]
    text = scenario.latest_version.document_text.replace("rps: 100", "rps: 110")
    assert _save(carol_client, scenario, text).status_code == 302
    content = alice_client.get(reverse("scenario_list")).content.decode()
    row = content[content.index("Team search") :].split("</tr>")[0]
    assert team.name in row and "carol" in row and "<time" in row
    row = content[content.index("Alice checkout") :].split("</tr>")[0]
    assert ">me<" in row and "alice" in row


def test_a_filter_for_someone_elses_team_is_refused_like_a_missing_one(
    listing, team, mallory_client
):
    url = reverse("scenario_list")
    theirs = mallory_client.get(url, {"owner": f"team-{team.pk}"})
    missing = mallory_client.get(url, {"owner": "team-99999999"})
    assert theirs.status_code == missing.status_code == 400
    assert "Team search" not in theirs.content.decode()
    assert mallory_client.get(url, {"owner": "bogus"}).status_code == 400


# --- User text is text ---------------------------------------------------------------

XSS = '<img src=x onerror="alert(1)">"\'><script>alert(2)</script>'


def test_markup_in_scenario_and_team_names_is_shown_as_text(team, alice_client, alice):
    from dashboard.teams.services import team_rename

    team_rename(team=team, name=XSS[:100])
    alice_client.post(
        reverse("scenario_new"), {"name": XSS, "where": f"team-{team.pk}"}
    )
    scenario = Scenario.objects.get()
    assert scenario.name == XSS  # stored as typed
    for url in (
        reverse("scenario_list"),
        reverse("scenario_list") + f"?owner=team-{team.pk}",
        reverse("scenario_detail", args=[scenario.pk]),
        reverse("scenario_rename", args=[scenario.pk]),
        reverse("scenario_delete", args=[scenario.pk]),
        reverse("team_detail", args=[team.pk]),
        reverse("team_list"),
    ):
        content = alice_client.get(url).content.decode()
        assert "<script>alert(2)" not in content, url
        assert "<img src=x" not in content, url
        assert "&lt;script&gt;alert(2)" in content or "&lt;img" in content, url


def test_huge_names_are_refused_without_an_error(team, alice, alice_client):
    big = "n" * 100_000
    scenario = make_scenario(alice)
    for url, data in [
        (reverse("scenario_new"), {"name": big}),
        (reverse("scenario_rename", args=[scenario.pk]), {"name": big}),
        (reverse("team_new"), {"name": big}),
        (
            reverse("team_member_add", args=[team.pk]),
            {"username": big, "role": "viewer"},
        ),
    ]:
        assert alice_client.post(url, data).status_code == 400, url
    assert Scenario.objects.count() == 1 and scenario.versions.count() == 1
