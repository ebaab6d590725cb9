"""Reliability row 8 for the HTTP API: generated bodies and documents through every
write endpoint never give a 500, and a refused write saves nothing."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from dashboard.api.services import token_create
from dashboard.runs.models import Run
from dashboard.scenarios.models import Scenario, ScenarioVersion
from tests.web.factories import SMALL_DOC, make_scenario

KEYS = [
    "document",
    "name",
    "team",
    "message",
    "base_version",
    "scenario",
    "version",
    "seed",
    "pace",
    "x",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from([SMALL_DOC, SMALL_DOC.replace("rps: 100", "rps: -1"), "{", ""]),
)
bodies = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=5),
    ),
    max_leaves=12,
)


@pytest.fixture
def no_enqueue(monkeypatch) -> list:
    queued: list = []
    monkeypatch.setattr("dashboard.runs.services._enqueue", queued.append)
    return queued


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    path=st.sampled_from(["/scenarios", "/scenarios/{pk}/versions", "/runs"]),
    body=bodies,
)
def test_generated_bodies_never_give_a_500(alice, no_enqueue, settings, path, body):
    settings.API_RATE_PER_MINUTE = 10_000
    scenario = Scenario.objects.filter(owner=alice).first() or make_scenario(alice)
    _token, secret = token_create(user=alice, name="fuzz")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    if isinstance(body, dict) and "scenario" in body and body["scenario"] is True:
        body["scenario"] = scenario.pk
    before = (ScenarioVersion.objects.count(), Run.objects.count())
    response = client.post(
        "/api/v1" + path.format(pk=scenario.pk),
        json.dumps(body),
        content_type="application/json",
    )
    assert response.status_code < 500, response.content
    assert response["Content-Type"].startswith("application/json")
    if response.status_code >= 400:
        assert response.json()["detail"]
        assert (ScenarioVersion.objects.count(), Run.objects.count()) == before
