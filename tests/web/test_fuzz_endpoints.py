"""Reliability row 8: generated documents through the HTTP endpoints never give a 500."""

from __future__ import annotations

import json

import pytest
import yaml
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.scenarios.models import ScenarioVersion
from tests.web.factories import SMALL_DOC, make_scenario

BASE = yaml.safe_load(SMALL_DOC)
FIELD_NAMES = [
    "scaleboard",
    "name",
    "simulation",
    "workload",
    "components",
    "faults",
    "network",
    "rps",
    "target",
    "type",
    "instances",
    "cores",
    "work_ms",
    "targets",
    "calls",
    "algorithm",
    "duration_s",
    "dist",
    "mean",
    "keys",
    "count",
    "zipf_s",
    "x",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**13), max_value=10**13),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["web", "lb", "db", "poisson", "round_robin", "service"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(FIELD_NAMES), inner, max_size=4),
    ),
    max_leaves=20,
)


def _mutate(path: list[str], value):
    doc = json.loads(json.dumps(BASE))
    node = doc
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(node, dict) else node
        if not isinstance(node, dict):
            return doc
    if isinstance(node, dict):
        node[path[-1]] = value
    return doc


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    path=st.lists(st.sampled_from(FIELD_NAMES), min_size=1, max_size=3),
    value=values,
    as_json=st.booleans(),
)
def test_mutated_documents_get_200_or_400_and_never_a_server_error(
    alice, path, value, as_json
):
    scenario = make_scenario(alice) if not ScenarioVersion.objects.exists() else None
    scenario = scenario or ScenarioVersion.objects.first().scenario
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    doc = _mutate(path, value)
    try:
        text = json.dumps(doc) if as_json else yaml.safe_dump(doc)
    except (ValueError, TypeError):
        text = str(doc)
    before = scenario.versions.count()
    validate = client.post(
        reverse("scenario_validate", args=[scenario.pk]), {"document": text}
    )
    assert validate.status_code == 200
    save = client.post(
        reverse("scenario_detail", args=[scenario.pk]), {"document": text}
    )
    assert save.status_code in (302, 400), save.status_code
    assert scenario.versions.count() == before + (save.status_code == 302)
