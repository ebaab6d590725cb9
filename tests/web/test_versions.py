"""Version history, restore, fork, the diff page and the save-conflict flow."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from dashboard.runs.models import Run
from dashboard.scenarios.models import Scenario, ScenarioVersion
from dashboard.scenarios.services import scenario_version_create
from tests.web.factories import SMALL_DOC, make_run, make_scenario

FOUR = SMALL_DOC.replace("instances: 2", "instances: 4")
WITH_CACHE = FOUR.replace(
    "targets: [web]}", "targets: [web]}\n  cache: {type: cache, backing: web}"
)
LAYOUT = {"positions": {"lb": {"x": 10.0, "y": 20.0}, "web": {"x": 230.0, "y": 20.0}}}


@pytest.fixture
def no_enqueue(monkeypatch) -> list:
    queued: list = []
    monkeypatch.setattr("dashboard.runs.services._enqueue", queued.append)
    return queued


def _two_versions(scenario, author, text=WITH_CACHE):
    return scenario_version_create(
        scenario=scenario, text=text, author=author, message="More web, a cache"
    )


def _report(rps: float, p99: float) -> dict:
    return {
        "requests": {"offered": 1000, "completed": 990, "errors": 10, "timeouts": 0},
        "throughput_rps": rps,
        "latency_ms": {"p50": 10.0, "p99": p99},
        "cost": {"per_hour": 1.5},
        "bottleneck": {"component": "web", "utilization": 0.9, "advice": ""},
    }


# --- history ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_history_shows_author_time_and_message_on_both_pages(
    team_scenario, carol, alice_client
):
    _two_versions(team_scenario, carol)
    for url in (
        reverse("scenario_detail", args=[team_scenario.pk]),
        reverse("scenario_version", args=[team_scenario.pk, 1]),
    ):
        page = alice_client.get(url).content.decode()
        history = page.split('data-testid="history"')[1].split("</ol>")[0]
        assert "v2" in history and "More web, a cache" in history and "carol" in history
        assert "v1" in history and "Created" in history and "alice" in history
        assert "<time datetime=" in history
        assert reverse("scenario_diff_pick", args=[team_scenario.pk]) in page


@pytest.mark.django_db
def test_version_page_offers_restore_and_fork_to_an_editor_not_restore_to_a_viewer(
    team_scenario, carol, alice_client, dave_client
):
    _two_versions(team_scenario, carol)
    url = reverse("scenario_version", args=[team_scenario.pk, 1])
    restore = reverse("scenario_version_restore", args=[team_scenario.pk, 1])
    fork = reverse("scenario_version_fork", args=[team_scenario.pk, 1])
    page = alice_client.get(url).content.decode()
    assert restore in page and fork in page and "Run v1" in page
    viewer = dave_client.get(url).content.decode()
    assert restore not in viewer and "Run v1" not in viewer
    assert fork in viewer  # a viewer may fork into their own space


# --- restore ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_restore_stores_the_old_text_and_layout_as_a_new_version(alice, alice_client):
    scenario = make_scenario(alice)
    ScenarioVersion.objects.filter(scenario=scenario, number=1).update(layout=LAYOUT)
    _two_versions(scenario, alice)
    response = alice_client.post(
        reverse("scenario_version_restore", args=[scenario.pk, 1])
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("scenario_detail", args=[scenario.pk])
    v3 = scenario.latest_version
    assert v3.number == 3
    assert v3.document_text == SMALL_DOC and v3.layout == LAYOUT
    assert v3.message == "Restored from v1" and v3.author == alice
    # The versions restored from are untouched.
    assert scenario.versions.get(number=2).document_text == WITH_CACHE


@pytest.mark.django_db
def test_a_viewer_cannot_restore(team_scenario, carol, dave_client):
    _two_versions(team_scenario, carol)
    response = dave_client.post(
        reverse("scenario_version_restore", args=[team_scenario.pk, 1])
    )
    assert response.status_code == 403
    assert team_scenario.versions.count() == 2


@pytest.mark.django_db
def test_restore_answers_only_post_and_an_unknown_version_is_404(alice, alice_client):
    scenario = make_scenario(alice)
    url = reverse("scenario_version_restore", args=[scenario.pk, 1])
    assert alice_client.get(url).status_code == 405
    missing = reverse("scenario_version_restore", args=[scenario.pk, 9])
    assert alice_client.post(missing).status_code == 404
    assert scenario.versions.count() == 1


@pytest.mark.django_db
def test_restore_without_a_csrf_token_is_refused(alice):
    scenario = make_scenario(alice)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    url = reverse("scenario_version_restore", args=[scenario.pk, 1])
    assert client.post(url).status_code == 403
    fork = reverse("scenario_version_fork", args=[scenario.pk, 1])
    assert client.post(fork).status_code == 403
    assert client.post(reverse("scenario_fork", args=[scenario.pk])).status_code == 403
    assert scenario.versions.count() == 1 and Scenario.objects.count() == 1


# --- fork ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_fork_makes_a_personal_scenario_whose_v1_is_that_version(alice, alice_client):
    scenario = make_scenario(alice)
    ScenarioVersion.objects.filter(scenario=scenario, number=1).update(layout=LAYOUT)
    _two_versions(scenario, alice)
    response = alice_client.post(
        reverse("scenario_version_fork", args=[scenario.pk, 1]), {"space": "personal"}
    )
    fork = Scenario.objects.exclude(pk=scenario.pk).get()
    assert response.status_code == 302
    assert response["Location"] == reverse("scenario_detail", args=[fork.pk])
    assert fork.owner == alice and fork.team is None
    assert fork.name == "Small web tier (fork)"
    (v1,) = fork.versions.all()
    assert v1.number == 1 and v1.document_text == SMALL_DOC and v1.layout == LAYOUT
    assert v1.message == "Forked from Small web tier v1" and v1.author == alice
    assert scenario.versions.count() == 2  # the source is untouched


@pytest.mark.django_db
def test_a_viewer_forks_a_team_scenario_into_their_own_space_not_the_team(
    team, team_scenario, dave, dave_client
):
    url = reverse("scenario_version_fork", args=[team_scenario.pk, 1])
    refused = dave_client.post(url, {"space": f"team-{team.pk}"})
    assert refused.status_code == 400
    assert b"space: choose your own scenarios or a team you edit in" in refused.content
    assert Scenario.objects.count() == 1
    assert dave_client.post(url, {"space": "personal"}).status_code == 302
    fork = Scenario.objects.exclude(pk=team_scenario.pk).get()
    assert fork.owner == dave and fork.team is None


@pytest.mark.django_db
def test_an_editor_forks_into_the_team(team, team_scenario, carol_client):
    page = carol_client.get(reverse("scenario_version", args=[team_scenario.pk, 1]))
    assert f'value="team-{team.pk}"' in page.content.decode()
    url = reverse("scenario_version_fork", args=[team_scenario.pk, 1])
    assert carol_client.post(url, {"space": f"team-{team.pk}"}).status_code == 302
    fork = Scenario.objects.exclude(pk=team_scenario.pk).get()
    assert fork.team == team and fork.owner is None


@pytest.mark.django_db
@pytest.mark.parametrize("space", ["team-999999", "team-x", "other", "team-"])
def test_a_fork_into_a_space_that_is_not_yours_saves_nothing(
    alice, alice_client, space
):
    scenario = make_scenario(alice)
    url = reverse("scenario_version_fork", args=[scenario.pk, 1])
    assert alice_client.post(url, {"space": space}).status_code == 400
    assert Scenario.objects.count() == 1


@pytest.mark.django_db
def test_a_fork_into_a_team_of_someone_else_is_refused(
    team, alice, mallory, mallory_client
):
    theirs = make_scenario(mallory)
    url = reverse("scenario_version_fork", args=[theirs.pk, 1])
    assert mallory_client.post(url, {"space": f"team-{team.pk}"}).status_code == 400
    assert not Scenario.objects.filter(team=team).exists()


# --- the diff page ---------------------------------------------------------------------


@pytest.mark.django_db
def test_diff_page_lists_the_changes_and_draws_both_versions(alice, alice_client):
    scenario = make_scenario(alice)
    _two_versions(scenario, alice)
    page = alice_client.get(reverse("scenario_diff", args=[scenario.pk, 1, 2]))
    assert page.status_code == 200
    html = page.content.decode()
    changes = html.split('data-testid="changes"')[1].split("</ul>\n")[0]
    assert 'data-component="cache"' in changes and "added" in changes
    assert "<code>web.instances</code>: <del>2</del> → <ins>4</ins>" in changes
    graph = json.loads(
        html.split('<script id="diff-graph" type="application/json">')[1].split(
            "</script>"
        )[0]
    )
    status = {n["id"]: n["status"] for n in graph["nodes"]}
    assert status == {
        "__clients__": "same",
        "lb": "same",
        "web": "changed",
        "cache": "added",
    }
    back = alice_client.get(reverse("scenario_diff", args=[scenario.pk, 2, 1]))
    graph = back.content.decode().split('id="diff-graph" type="application/json">')[1]
    assert '"status": "removed"' in graph.split("</script>")[0]
    assert "js/diffcanvas.js" in back.content.decode()


@pytest.mark.django_db
def test_diff_page_leads_to_the_review_of_the_newer_version_against_the_older(
    alice, alice_client
):
    """A reviewer who read the diff decides on the review page: one click away."""
    scenario = make_scenario(alice)
    _two_versions(scenario, alice)
    html = alice_client.get(
        reverse("scenario_diff", args=[scenario.pk, 1, 2])
    ).content.decode()
    review = reverse("review_detail", args=[scenario.pk, 2])
    assert f'<a href="{review}?base=1">Review v2</a>' in html
    followed = alice_client.get(f"{review}?base=1")
    assert followed.status_code == 200
    assert followed.context["base"].number == 1


@pytest.mark.django_db
def test_diff_of_a_version_with_itself_says_no_changes(alice, alice_client):
    scenario = make_scenario(alice)
    page = alice_client.get(reverse("scenario_diff", args=[scenario.pk, 1, 1]))
    assert b'data-testid="diff-empty"' in page.content


@pytest.mark.django_db
def test_diff_shows_metric_deltas_when_both_versions_ran(alice, alice_client):
    scenario = make_scenario(alice)
    v1 = scenario.latest_version
    v2 = _two_versions(scenario, alice)
    for version, rps, p99 in ((v1, 100.0, 80.0), (v2, 180.0, 40.0)):
        run = make_run(alice, scenario, status=Run.Status.SUCCEEDED)
        run.version, run.report = version, _report(rps, p99)
        run.save()
    html = alice_client.get(
        reverse("scenario_diff", args=[scenario.pk, 1, 2])
    ).content.decode()
    table = html.split('data-testid="metrics"')[1].split("</table>")[0]
    assert "Throughput" in table and "+80.00" in table and "-40.00" in table
    assert table.count('class="better"') == 2  # throughput up, p99 down
    assert "web at 90%" in table


@pytest.mark.django_db
def test_diff_without_runs_says_which_version_has_none_and_offers_a_run(
    team_scenario, carol, alice_client, dave_client
):
    v1 = team_scenario.latest_version
    _two_versions(team_scenario, carol)
    run = make_run(carol, team_scenario, status=Run.Status.SUCCEEDED)
    run.version, run.report = v1, _report(100.0, 80.0)
    run.save()
    url = reverse("scenario_diff", args=[team_scenario.pk, 1, 2])
    html = alice_client.get(url).content.decode()
    none = html.split('data-testid="no-runs"')[1].split("</ul>")[0]
    assert "v2 has no succeeded run." in none and "v1 has" not in none
    assert "Run v2" in none
    viewer = dave_client.get(url).content.decode()
    assert "v2 has no succeeded run." in viewer and "Run v2" not in viewer


@pytest.mark.django_db
def test_compare_form_redirects_to_the_diffs_own_url(alice, alice_client):
    scenario = make_scenario(alice)
    _two_versions(scenario, alice)
    pick = reverse("scenario_diff_pick", args=[scenario.pk])
    response = alice_client.get(pick, {"a": "1", "b": "2"})
    assert response.status_code == 302
    assert response["Location"] == reverse("scenario_diff", args=[scenario.pk, 1, 2])
    bad = alice_client.get(pick, {"a": "one", "b": "2"})
    assert bad.status_code == 400 and b"choose two version numbers" in bad.content
    assert alice_client.get(pick, {"a": "1", "b": "7"}).status_code == 404
    assert alice_client.get(pick, {"a": "1\x00", "b": "2"}).status_code == 400
    missing = reverse("scenario_diff", args=[scenario.pk, 1, 7])
    assert alice_client.get(missing).status_code == 404


# --- outsiders -------------------------------------------------------------------------


@pytest.mark.django_db
def test_mallory_gets_404_on_every_new_route_with_every_method(
    team_scenario, mallory_client
):
    pk = team_scenario.pk
    urls = [
        reverse("scenario_diff", args=[pk, 1, 1]),
        reverse("scenario_diff_pick", args=[pk]) + "?a=1&b=1",
        reverse("scenario_version_restore", args=[pk, 1]),
        reverse("scenario_version_fork", args=[pk, 1]),
        reverse("scenario_fork", args=[pk]),
        reverse("scenario_version", args=[pk, 1]),
    ]
    before = (Scenario.objects.count(), ScenarioVersion.objects.count())
    for url in urls:
        codes = set()
        for method in ("get", "post", "put", "patch", "delete"):
            response = getattr(mallory_client, method)(
                url, {"document": SMALL_DOC, "space": "personal"}
            )
            assert response.status_code in (404, 405), (url, method)
            codes.add(response.status_code)
        assert 404 in codes, url
    assert (Scenario.objects.count(), ScenarioVersion.objects.count()) == before


# --- save conflicts --------------------------------------------------------------------


def _stale_save(client, scenario, *, url_name="scenario_detail", text=FOUR):
    return client.post(
        reverse(url_name, args=[scenario.pk]),
        {
            "document": text,
            "message": "Alice: four web servers",
            "layout": json.dumps(LAYOUT),
            "base_version": "1",
        },
    )


@pytest.mark.django_db
def test_a_stale_save_keeps_text_and_message_and_offers_both_actions(
    team_scenario, carol, alice_client
):
    _two_versions(
        team_scenario, carol, text=WITH_CACHE.replace("instances: 4", "instances: 3")
    )
    response = _stale_save(alice_client, team_scenario)
    assert response.status_code == 409
    html = response.content.decode()
    assert team_scenario.versions.count() == 2  # nothing of alice's written
    assert "instances: 4" in html.split('id="document"')[1].split("</textarea>")[0]
    assert 'value="Alice: four web servers"' in html
    conflict = html.split('data-testid="conflict"')[1]
    assert "version 2 was saved by carol" in conflict
    # The diff from carol's v2 to alice's text: carol's cache is not in alice's text.
    assert 'data-component="cache"' in conflict and "removed" in conflict
    assert "<code>web.instances</code>: <del>3</del> → <ins>4</ins>" in conflict
    assert 'data-testid="save-on-top"' in conflict
    assert reverse("scenario_fork", args=[team_scenario.pk]) in conflict
    assert 'name="base_version" value="2"' in html  # now based on v2
    assert 'name="forked_from" value="1"' in conflict


@pytest.mark.django_db
def test_save_on_top_stores_the_users_text_as_the_next_version(
    team_scenario, carol, alice, alice_client
):
    _two_versions(team_scenario, carol)
    assert _stale_save(alice_client, team_scenario).status_code == 409
    response = alice_client.post(
        reverse("scenario_detail", args=[team_scenario.pk]),
        {
            "document": FOUR,
            "message": "Alice: four web servers",
            "layout": json.dumps(LAYOUT),
            "base_version": "2",
            "action": "save",
        },
    )
    assert response.status_code == 302
    v3 = team_scenario.latest_version
    assert v3.number == 3 and v3.document_text == FOUR and v3.author == alice
    assert v3.message == "Alice: four web servers" and v3.layout == LAYOUT


@pytest.mark.django_db
def test_save_as_a_fork_makes_a_new_scenario_with_the_users_text_and_message(
    team, team_scenario, carol, alice, alice_client
):
    _two_versions(team_scenario, carol)
    response = alice_client.post(
        reverse("scenario_fork", args=[team_scenario.pk]),
        {
            "document": FOUR,
            "message": "Alice: four web servers",
            "layout": json.dumps(LAYOUT),
            "base_version": "2",
            "forked_from": "1",
            "space": f"team-{team.pk}",
        },
    )
    fork = Scenario.objects.exclude(pk=team_scenario.pk).get()
    assert response.status_code == 302
    assert response["Location"] == reverse("scenario_detail", args=[fork.pk])
    assert fork.team == team
    (v1,) = fork.versions.all()
    assert v1.document_text == FOUR and v1.layout == LAYOUT and v1.author == alice
    assert v1.message == "Forked from Small web tier v1: Alice: four web servers"
    assert team_scenario.versions.count() == 2


@pytest.mark.django_db
def test_a_fork_of_text_that_does_not_validate_keeps_it_and_saves_nothing(
    alice, alice_client
):
    scenario = make_scenario(alice)
    bad = SMALL_DOC.replace("instances: 2", "instances: 0")
    response = alice_client.post(
        reverse("scenario_fork", args=[scenario.pk]),
        {"document": bad, "message": "mine", "space": "personal"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "components.web.instances" in html and 'value="mine"' in html
    assert "instances: 0" in html
    assert Scenario.objects.count() == 1


@pytest.mark.django_db
def test_a_fork_with_nul_or_a_huge_text_is_refused(alice, alice_client):
    scenario = make_scenario(alice)
    url = reverse("scenario_fork", args=[scenario.pk])
    nul = alice_client.post(url, {"document": SMALL_DOC, "message": "a\x00b"})
    assert nul.status_code == 400 and b"message" in nul.content
    huge = alice_client.post(url, {"document": SMALL_DOC + "#" * 2_000_000})
    assert huge.status_code == 400
    assert Scenario.objects.count() == 1


@pytest.mark.django_db
def test_a_run_from_a_stale_editor_keeps_everything_and_offers_save_and_run(
    team_scenario, carol, alice_client, no_enqueue
):
    _two_versions(team_scenario, carol)
    runs = Run.objects.count()
    response = _stale_save(alice_client, team_scenario, url_name="scenario_run")
    assert response.status_code == 409
    html = response.content.decode()
    assert 'value="Alice: four web servers"' in html
    assert 'data-testid="run-on-top"' in html and "Not saved and not run" in html
    assert Run.objects.count() == runs and team_scenario.versions.count() == 2


@pytest.mark.django_db
def test_a_document_error_keeps_the_typed_message_too(alice, alice_client):
    scenario = make_scenario(alice)
    response = alice_client.post(
        reverse("scenario_detail", args=[scenario.pk]),
        {
            "document": SMALL_DOC.replace("instances: 2", "instances: 0"),
            "message": "my careful message",
            "base_version": "1",
        },
    )
    assert response.status_code == 400
    assert 'value="my careful message"' in response.content.decode()
    assert scenario.versions.count() == 1


@pytest.mark.django_db
def test_a_typed_message_is_escaped_when_kept(alice, alice_client):
    scenario = make_scenario(alice)
    scenario_version_create(scenario=scenario, text=FOUR, author=alice)
    response = _stale_save(alice_client, scenario, text=SMALL_DOC)
    html = response.content.decode()
    response = alice_client.post(
        reverse("scenario_detail", args=[scenario.pk]),
        {"document": SMALL_DOC, "message": '"><script>x</script>', "base_version": "1"},
    )
    html = response.content.decode()
    assert "<script>x</script>" not in html
    assert "&quot;&gt;&lt;script&gt;x&lt;/script&gt;" in html


@pytest.mark.django_db
def test_a_version_that_no_longer_validates_is_not_restored(alice, alice_client):
    scenario = make_scenario(alice)
    # As if saved under an older format: stored directly, no longer valid.
    ScenarioVersion.objects.create(
        scenario=scenario,
        number=2,
        document_text=SMALL_DOC.replace("instances: 2", "replicas_of_old: 2"),
        author=alice,
    )
    scenario_version_create(scenario=scenario, text=FOUR, author=alice)
    response = alice_client.post(
        reverse("scenario_version_restore", args=[scenario.pk, 2])
    )
    assert response.status_code == 400
    assert b"Not restored: this version no longer validates" in response.content
    assert b"replicas_of_old" in response.content
    assert scenario.versions.count() == 3
    # Its diff against a valid version still compares, as written.
    page = alice_client.get(reverse("scenario_diff", args=[scenario.pk, 2, 3]))
    assert page.status_code == 200 and b'data-testid="diff-raw"' in page.content
