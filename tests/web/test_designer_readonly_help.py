"""The read-only designer's server side, the help pages it links to, and the
estimate's price note in a user's words."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from dashboard.help_pages import TOPICS
from dashboard.scenarios import designer
from tests.web.factories import SMALL_DOC, make_scenario


def _inspect(client, scenario, **extra):
    return client.post(
        reverse("designer_inspect", args=[scenario.pk]),
        {"document": SMALL_DOC, "subject": "web", **extra},
    )


@pytest.mark.django_db
def test_a_team_viewer_sees_the_designer_read_only(team_scenario, dave_client):
    response = dave_client.get(reverse("scenario_detail", args=[team_scenario.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-readonly="true"' in html
    assert "to see its fields" in html


@pytest.mark.django_db
def test_an_editor_and_the_owner_get_the_editable_designer(
    team_scenario, carol_client, alice_client, bob_client, bob
):
    for client in (carol_client, alice_client):
        html = client.get(reverse("scenario_detail", args=[team_scenario.pk])).content
        assert b"data-readonly" not in html
        assert b"to edit its fields" in html
    mine = make_scenario(bob)  # a personal scenario: its owner edits it
    html = bob_client.get(reverse("scenario_detail", args=[mine.pk])).content
    assert b"data-readonly" not in html


@pytest.mark.django_db
def test_a_viewers_inspector_shows_values_in_disabled_fields_and_applies_nothing(
    team_scenario, dave_client
):
    before = team_scenario.versions.count()
    response = _inspect(dave_client, team_scenario, apply="1", instances="7")
    html = response.content.decode()
    assert response.status_code == 200
    assert '<fieldset class="readonly-fields" disabled>' in html
    assert 'value="2"' in html  # web's instances, shown
    assert "hx-post" not in html  # nothing sends the form
    assert "inspector-result" not in html  # and nothing was applied
    assert ">Apply<" not in html
    assert team_scenario.versions.count() == before


@pytest.mark.django_db
def test_an_editor_asking_for_read_only_values_gets_them_and_can_still_apply(
    team_scenario, carol_client
):
    html = _inspect(carol_client, team_scenario, readonly="1").content.decode()
    assert "readonly-fields" in html and "hx-post" not in html
    html = _inspect(carol_client, team_scenario, apply="1", instances="7").content
    assert b"inspector-result" in html and b"readonly-fields" not in html


@pytest.mark.django_db
def test_an_outsider_gets_404_from_the_inspector_read_only_or_not(
    team_scenario, mallory_client
):
    assert _inspect(mallory_client, team_scenario).status_code == 404
    assert _inspect(mallory_client, team_scenario, readonly="1").status_code == 404


@pytest.mark.django_db
def test_the_document_label_links_the_help_page_not_a_file_name(alice_client, world):
    html = alice_client.get(reverse("scenario_detail", args=[world["pk"]])).content
    html = html.decode()
    assert "docs/topology.md" not in html
    assert f'href="{reverse("help", args=["topology"])}"' in html
    assert f'href="{reverse("help", args=["designer"])}"' in html


@pytest.mark.django_db
@pytest.mark.parametrize("slug", sorted(TOPICS))
def test_every_help_page_renders_its_document(alice_client, slug):
    response = alice_client.get(reverse("help", args=[slug]))
    assert response.status_code == 200
    html = response.content.decode()
    assert f"<title>Help: {TOPICS[slug].title}" in html
    assert "<table>" in html or "<pre>" in html  # Markdown, rendered
    assert "<script>" not in html.split("</header>")[1]
    # Links between the documents are links between the pages; none to a .md file.
    assert '.md"' not in html and ".md#" not in html


@pytest.mark.django_db
def test_help_links_between_documents_become_help_pages(alice_client):
    html = alice_client.get(reverse("help", args=["topology"])).content.decode()
    assert f'href="{reverse("help", args=["datatier"])}"' in html
    assert 'id="prices"' in html  # headings keep anchors to link to


@pytest.mark.django_db
def test_help_needs_login_refuses_unsafe_methods_and_unknown_topics(alice_client):
    url = reverse("help", args=["topology"])
    response = Client().get(url)
    assert response.status_code == 302 and response["Location"].startswith(
        reverse("login")
    )
    assert alice_client.post(url).status_code == 405
    assert alice_client.get(reverse("help", args=["engine"])).status_code == 404
    assert alice_client.get("/help/../settings/").status_code == 404


def test_the_price_note_speaks_to_a_user_not_in_module_names():
    result = designer.apply(text=SMALL_DOC)
    notes = " ".join(result["estimate"]["notes"])
    assert "simengine" not in notes and "cost_per_hour" not in notes
    assert "Costs of every component use Scaleboard's standard prices" in notes
    priced = SMALL_DOC.replace(
        "algorithm: round_robin,", "algorithm: round_robin, cost_per_hour: 0.5,"
    )
    notes = " ".join(designer.apply(text=priced)["estimate"]["notes"])
    assert "Costs of web use Scaleboard's standard prices" in notes
    all_priced = priced.replace("cores: 2,", "cores: 2, cost_per_hour: 0.1,")
    notes = " ".join(designer.apply(text=all_priced)["estimate"]["notes"])
    assert "standard prices" not in notes


@pytest.mark.django_db
def test_the_page_writes_the_pins_json_script_only_when_comments_are_pinned(
    alice, alice_client, world
):
    from dashboard.reviews.models import Comment
    from dashboard.scenarios.models import Scenario

    url = f"/scenarios/{world['pk']}/"
    assert "designer-pins" not in alice_client.get(url).content.decode()
    version = Scenario.objects.get(pk=world["pk"]).latest_version
    Comment.objects.create(
        version=version,
        author=alice,
        body="</script><script>alert(1)</script>",
        component_id="web",
    )
    html = alice_client.get(url).content.decode()
    assert '<script id="designer-pins" type="application/json">' in html
    assert html.count('id="designer-pins"') == 1
    assert "<script>alert(1)" not in html  # user text never reaches the page raw
