"""Saves never lose or duplicate a version: N saves give N+1 versions numbered 1..N+1
(a property test), and saves racing on one base version on PostgreSQL have exactly one
winner; every other gets `VersionConflict` with nothing of its own written (and, over
HTTP, a 409 page that keeps its text and message)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.scenarios.models import Scenario, ScenarioVersion
from dashboard.scenarios.services import VersionConflict, scenario_version_create
from tests.web.factories import SMALL_DOC, make_scenario

RACERS = 8


def _doc(rps: int) -> str:
    return SMALL_DOC.replace("rps: 100", f"rps: {rps}")


messages = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=40,
)


@pytest.mark.django_db
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    saves=st.lists(
        st.tuples(st.sampled_from(["fresh", "unchecked", "stale"]), messages),
        max_size=8,
    )
)
def test_n_saves_give_n_plus_one_versions_numbered_in_order(alice, saves):
    scenario = make_scenario(alice)
    expected = [SMALL_DOC]
    for i, (kind, message) in enumerate(saves):
        last = scenario.versions.count()
        base = {"fresh": last, "unchecked": None, "stale": last - 1}[kind]
        try:
            scenario_version_create(
                scenario=scenario,
                text=_doc(100 + i),
                author=alice,
                message=message,
                base_version=base,
            )
        except VersionConflict as exc:
            assert kind == "stale"
            assert exc.latest.number == last
            continue
        assert kind != "stale"
        expected.append(_doc(100 + i))
    numbers = list(
        scenario.versions.order_by("number").values_list("number", flat=True)
    )
    assert numbers == list(range(1, len(expected) + 1))
    texts = scenario.versions.order_by("number").values_list("document_text", flat=True)
    assert list(texts) == expected


def _all_at_once(work, n: int = RACERS) -> list:
    """Run `work(i)` in `n` threads released together; what each returned or the
    name of what it raised, in thread order."""
    barrier = threading.Barrier(n)
    outcomes: list = [None] * n

    def one(i: int) -> None:
        try:
            barrier.wait()
            outcomes[i] = work(i)
        except Exception as exc:
            outcomes[i] = type(exc).__name__
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a save never finished"
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_racing_saves_on_one_base_version_have_exactly_one_winner(postgres, alice):
    scenario = make_scenario(alice)

    def save(i: int) -> str:
        scenario_version_create(
            scenario=Scenario.objects.get(pk=scenario.pk),
            text=_doc(200 + i),
            author=alice,
            message=f"racer {i}",
            base_version=1,
        )
        return "saved"

    outcomes = _all_at_once(save)
    assert Counter(outcomes) == {"saved": 1, "VersionConflict": RACERS - 1}, outcomes
    winner = outcomes.index("saved")
    versions = list(scenario.versions.order_by("number"))
    assert [v.number for v in versions] == [1, 2]
    assert versions[1].document_text == _doc(200 + winner)
    assert versions[1].message == f"racer {winner}"
    # Nothing of a loser's reached the database.
    for i in range(RACERS):
        if i != winner:
            assert not ScenarioVersion.objects.filter(
                document_text=_doc(200 + i)
            ).exists()
            assert not ScenarioVersion.objects.filter(message=f"racer {i}").exists()


@pytest.mark.django_db(transaction=True)
def test_racing_saves_over_http_one_wins_the_others_keep_their_text_and_message(
    postgres, alice
):
    scenario = make_scenario(alice)
    clients = []
    for _ in range(RACERS):
        client = Client()
        client.force_login(alice)
        clients.append(client)

    def save(i: int):
        response = clients[i].post(
            reverse("scenario_detail", args=[scenario.pk]),
            {
                "document": _doc(300 + i),
                "message": f"typed by racer {i}",
                "base_version": "1",
            },
        )
        return response.status_code, response.content.decode()

    outcomes = _all_at_once(save)
    codes = Counter(code for code, _ in outcomes)
    assert codes == {302: 1, 409: RACERS - 1}, codes
    assert scenario.versions.count() == 2
    for i, (code, html) in enumerate(outcomes):
        if code != 409:
            continue
        textarea = html.split('id="document"')[1].split("</textarea>")[0]
        assert f"rps: {300 + i}" in textarea
        assert f'value="typed by racer {i}"' in html
        assert 'data-testid="save-on-top"' in html
        assert not ScenarioVersion.objects.filter(document_text=_doc(300 + i)).exists()
