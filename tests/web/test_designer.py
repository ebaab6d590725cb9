"""The designer's endpoints: the canvas round trip, the inspector, saved positions.

Reliability rows 2, 3, 5 and 7 for the new routes: login required, another user's
scenario is a 404 with nothing changed, CSRF enforced, and bad documents get their
errors named by field path (never a 500, never a save).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.scenarios.models import ScenarioVersion
from tests.web.factories import SMALL_DOC, make_scenario

ROOT = Path(__file__).resolve().parents[2]
WEB_TIER = """\
scaleboard: 1
name: Web tier
workload: {target: lb, rps: 600, read_ratio: 0.9}
network: {hop_ms: 0.5}
components:
  lb: {type: load_balancer, targets: [web]}
  web:
    type: service
    instances: 3
    cores: 4
    work_ms: {dist: exponential, mean: 8}
    calls: [db]
  db:
    type: database
    primary: {cores: 8, read_ms: {dist: exponential, mean: 4}, write_ms: 12}
"""


@pytest.fixture
def scenario(alice):
    return make_scenario(alice, WEB_TIER)


def _apply(client, scenario, body, **kw):
    return client.post(
        reverse("designer_apply", args=[scenario.pk]),
        data=json.dumps(body) if not isinstance(body, (bytes, str)) else body,
        content_type="application/json",
        **kw,
    )


@pytest.mark.django_db
def test_apply_text_returns_graph_estimate_and_mermaid(alice_client, scenario):
    response = _apply(alice_client, scenario, {"text": WEB_TIER})
    assert response.status_code == 200
    data = response.json()
    assert data["valid"] is True and data["errors"] == []
    ids = {n["id"]: n["type"] for n in data["graph"]["nodes"]}
    assert ids == {
        "__clients__": "clients",
        "lb": "load_balancer",
        "web": "service",
        "db": "database",
    }
    kinds = {(e["source"], e["target"], e["kind"]) for e in data["graph"]["edges"]}
    assert kinds == {
        ("__clients__", "lb", "workload"),
        ("lb", "web", "targets"),
        ("web", "db", "calls"),
    }
    est = data["estimate"]
    assert est["label"].startswith("Estimate")
    assert est["components"]["web"]["utilization"] == pytest.approx(0.4)
    assert est["bottleneck"]["component"] == "web"
    assert (
        "graph TB" in data["mermaid"]
        and "c_lb -->|Distribute| c_web" in data["mermaid"]
    )


@pytest.mark.django_db
def test_a_call_in_its_mapping_form_draws_its_edge(alice_client, scenario):
    text = WEB_TIER.replace(
        "calls: [db]",
        "calls: [{to: search, probability: 0.3}, {to: db, breaker: {error_rate: 0.5}}]",
    ).replace("  db:\n", "  search: {type: service}\n  db:\n")
    data = _apply(alice_client, scenario, {"text": text}).json()
    assert data["valid"] is True, data["errors"]
    edges = {
        (e["source"], e["target"], e["kind"], e["path"]) for e in data["graph"]["edges"]
    }
    assert ("web", "search", "calls", "components.web.calls[0]") in edges
    assert ("web", "db", "calls", "components.web.calls[1]") in edges
    assert "c_web --> c_search" in data["mermaid"]
    # the estimate thins the call: search gets 30% of web's 600 req/s
    assert data["estimate"]["components"]["search"]["offered_rps"] == pytest.approx(180)


@pytest.mark.django_db
def test_apply_tree_writes_yaml_that_parses_back_to_the_same_tree(
    alice_client, scenario
):
    tree = yaml.safe_load(WEB_TIER)
    tree["components"]["cache"] = {
        "type": "cache",
        "backing": "db",
        "capacity_keys": 5000,
    }
    tree["components"]["web"]["calls"] = ["cache"]
    response = _apply(alice_client, scenario, {"tree": tree})
    data = response.json()
    assert response.status_code == 200 and data["valid"], data["errors"]
    assert yaml.safe_load(data["text"]) == tree
    assert data["tree"] == tree
    # And the text round trip is stable: applying the text gives the same text.
    again = _apply(alice_client, scenario, {"tree": data["tree"]}).json()
    assert again["text"] == data["text"]
    assert "cache" in data["estimate"]["components"]
    assert scenario.versions.count() == 1  # a preview: nothing saved


@pytest.mark.django_db
def test_a_canvas_edit_keeps_json_text_as_json(alice_client, scenario):
    tree = yaml.safe_load(WEB_TIER)
    data = _apply(alice_client, scenario, {"tree": tree, "format": "json"}).json()
    assert data["text"].startswith("{") and json.loads(data["text"]) == tree
    assert data["valid"] and data["estimate"]["bottleneck"]["component"] == "web"
    bad = _apply(alice_client, scenario, {"tree": tree, "format": "xml"})
    assert bad.status_code == 400


@pytest.mark.django_db
def test_apply_reports_field_errors_inline_and_saves_nothing(alice_client, scenario):
    bad = WEB_TIER.replace("instances: 3", "instances: 0")
    response = _apply(alice_client, scenario, {"text": bad})
    assert response.status_code == 200
    data = response.json()
    assert data["valid"] is False and data["estimate"] is None
    assert {
        "path": "components.web.instances",
        "message": "must be >= 1 (got 0)",
    } in data["errors"]
    # The canvas still gets the (invalid) document's graph.
    assert {n["id"] for n in data["graph"]["nodes"]} >= {"lb", "web", "db"}
    assert scenario.versions.count() == 1


BAD_DOCUMENTS = {
    "over 1 MB": "scaleboard: 1\n# " + "x" * 1_100_000 + "\n",
    "deep nesting": "a: " + "[" * 5000 + "]" * 5000,
    "10k components": "scaleboard: 1\nworkload: {target: c0, rps: 1}\ncomponents:\n"
    + "".join(f"  c{i}: {{type: service}}\n" for i in range(10_000)),
    "negative rate": WEB_TIER.replace("rps: 600", "rps: -5"),
    "NaN rate": WEB_TIER.replace("rps: 600", "rps: .nan"),
    "unknown field": WEB_TIER.replace("cores: 4", "cores: 4\n    corez: 5"),
    "cycle": WEB_TIER.replace("calls: [db]", "calls: [web]"),
    "missing backing": WEB_TIER + "  cache: {type: cache, backing: nowhere}\n",
    "not a mapping": "- 1\n- 2\n",
    "YAML bomb": "a: &a [1,1,1,1,1,1,1,1,1]\n"
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
        f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n"
        for i in range(8)
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(BAD_DOCUMENTS))
def test_bad_documents_get_named_errors_never_a_500(alice_client, scenario, name):
    text = BAD_DOCUMENTS[name]
    response = _apply(alice_client, scenario, {"text": text})
    assert response.status_code in (200, 400), response.status_code
    data = response.json()
    if response.status_code == 200:
        assert data["valid"] is False
        assert data["errors"] and all(
            e["path"] and e["message"] for e in data["errors"]
        )
    else:
        assert data["error"]
    # The inspector answers too, and changes nothing.
    inspect = alice_client.post(
        reverse("designer_inspect", args=[scenario.pk]),
        {"document": text, "subject": "web", "apply": "1", "instances": "2"},
    )
    assert inspect.status_code == 200
    assert b"inspector-result" not in inspect.content or name in (
        "unknown field",
        "cycle",
        "missing backing",
        "negative rate",
        "NaN rate",
    )
    assert scenario.versions.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        json.dumps({"tree": [1, 2]}),
        json.dumps({"text": 5}),
        json.dumps({}),
        "{" * 100 + "}" * 100,
        b"\xff\xfe",
    ],
)
def test_requests_that_are_not_documents_are_400(alice_client, scenario, body):
    response = _apply(alice_client, scenario, body)
    assert response.status_code == 400
    assert "error" in response.json()


@pytest.mark.django_db
def test_designer_routes_need_login_ownership_and_csrf(scenario, mallory_client, alice):
    for name in ("designer_apply", "designer_inspect"):
        url = reverse(name, args=[scenario.pk])
        anonymous = Client().post(url, {"document": WEB_TIER})
        assert anonymous.status_code == 302
        assert anonymous["Location"].startswith(reverse("login"))
        intruder = mallory_client
        assert intruder.post(url, {"document": WEB_TIER}).status_code == 404
        assert intruder.get(url).status_code in (404, 405)
        strict = Client(enforce_csrf_checks=True)
        strict.force_login(alice)
        assert strict.post(url, {"document": WEB_TIER}).status_code == 403
    assert scenario.versions.count() == 1


@pytest.mark.django_db
def test_inspector_shows_schema_fields_with_units_defaults_and_help(
    alice_client, scenario
):
    response = alice_client.post(
        reverse("designer_inspect", args=[scenario.pk]),
        {"document": WEB_TIER, "subject": "web"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="inspector"' in html
    assert re.search(r'<label for="insp-instances">Instances', html)
    assert 'value="3"' in html  # the current value
    assert "horizontal scaling" in html  # help text from the schema
    assert 'placeholder="default 1.0"' in html or 'placeholder="default 1"' in html
    assert 'Work <span class="unit">(ms)</span>' in html
    assert 'name="work_ms.mean" value="8"' in html.replace("\n", " ") or re.search(
        r'name="work_ms\.mean"\s+value="8"', html
    )


@pytest.mark.django_db
def test_inspector_refuses_a_bad_value_inline_and_changes_nothing(
    alice_client, scenario
):
    response = alice_client.post(
        reverse("designer_inspect", args=[scenario.pk]),
        {"document": WEB_TIER, "subject": "web", "apply": "1", "instances": "0"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "components.web.instances: must be &gt;= 1 (got 0)" in html
    assert "Not applied" in html
    assert "inspector-result" not in html
    assert scenario.versions.count() == 1


@pytest.mark.django_db
def test_inspector_applies_a_good_value_and_returns_the_new_text(
    alice_client, scenario
):
    response = alice_client.post(
        reverse("designer_inspect", args=[scenario.pk]),
        {
            "document": WEB_TIER,
            "subject": "web",
            "apply": "1",
            "instances": "5",
            "cores": "4",
            "work_ms.dist": "exponential",
            "work_ms.mean": "8",
            "calls": "db",
        },
    )
    html = response.content.decode()
    match = re.search(
        r'<script id="inspector-result" type="application/json">(.*?)</script>', html
    )
    assert match, html[:2000]
    text = json.loads(match.group(1))
    tree = yaml.safe_load(text)
    assert tree["components"]["web"]["instances"] == 5
    assert tree["components"]["web"]["work_ms"] == {"dist": "exponential", "mean": 8}
    assert tree["components"]["db"] == yaml.safe_load(WEB_TIER)["components"]["db"]
    assert scenario.versions.count() == 1  # applying is not saving


@pytest.mark.django_db
def test_workload_panel_edits_rate_and_phases(alice_client, scenario):
    url = reverse("designer_inspect", args=[scenario.pk])
    form = alice_client.post(url, {"document": WEB_TIER, "subject": "workload"})
    assert b"Phases" in form.content and b"Read ratio" in form.content
    response = alice_client.post(
        url,
        {
            "document": WEB_TIER,
            "subject": "workload",
            "apply": "1",
            "target": "lb",
            "rps": "900",
            "read_ratio": "0.8",
            "phases.__rows": "0",
            "phases.0.at_s": "30",
            "phases.0.rps": "4000",
        },
    )
    html = response.content.decode()
    match = re.search(
        r'<script id="inspector-result" type="application/json">(.*?)</script>', html
    )
    assert match, html[:3000]
    workload = yaml.safe_load(json.loads(match.group(1)))["workload"]
    assert workload["rps"] == 900 and workload["read_ratio"] == 0.8
    assert workload["phases"] == [{"at_s": 30, "rps": 4000}]


@pytest.mark.django_db
def test_a_closed_workloads_phases_table_edits_users_not_a_rate(alice_client, scenario):
    # examples/login-flow-closed.yaml: phases of users; the table's column is Users,
    # and applying it keeps them users (a rate there would be refused)
    text = (ROOT / "examples" / "login-flow-closed.yaml").read_text()
    url = reverse("designer_inspect", args=[scenario.pk])
    html = alice_client.post(
        url, {"document": text, "subject": "workload"}
    ).content.decode()
    assert '<th scope="col">Users</th>' in html
    assert re.search(r'name="phases\.0\.users"[^>]*value="600"', html), html[:2000]
    assert 'name="phases.0.rps"' not in html
    response = alice_client.post(
        url,
        {
            "document": text,
            "subject": "workload",
            "apply": "1",
            "target": "lb",
            "users.__on": "1",
            "users.count": "400",
            "users.think_ms.dist": "exponential",
            "users.think_ms.mean": "2000",
            "phases.__rows": "2",
            "phases.0.at_s": "120",
            "phases.0.users": "800",
            "phases.1.at_s": "240",
            "phases.1.users": "400",
        },
    )
    match = re.search(
        r'<script id="inspector-result" type="application/json">(.*?)</script>',
        response.content.decode(),
    )
    assert match, response.content.decode()[:3000]
    workload = yaml.safe_load(json.loads(match.group(1)))["workload"]
    assert workload["phases"] == [
        {"at_s": 120, "users": 800},
        {"at_s": 240, "users": 400},
    ]
    assert "rps" not in workload
    assert workload["users"] == {
        "count": 400,
        "think_ms": {"dist": "exponential", "mean": 2000},
    }


@pytest.mark.django_db
def test_objectives_panel_sets_and_clears_the_objectives(alice_client, scenario):
    url = reverse("designer_inspect", args=[scenario.pk])
    form = alice_client.post(url, {"document": WEB_TIER, "subject": "objectives"})
    html = form.content.decode()
    assert "Objectives" in html and "Error rate" in html and "Utilization" in html

    def apply(fields: dict) -> tuple[dict, str]:
        response = alice_client.post(
            url,
            {"document": WEB_TIER, "subject": "objectives", "apply": "1", **fields},
        )
        html = response.content.decode()
        match = re.search(
            r'<script id="inspector-result" type="application/json">(.*?)</script>',
            html,
        )
        return (yaml.safe_load(json.loads(match.group(1))) if match else {}), html

    tree, _ = apply(
        {
            "latency_ms.__on": "1",
            "latency_ms.p99": "250",
            "error_rate": "0.001",
            "utilization": "0.8",
        }
    )
    assert tree["objectives"] == {
        "latency_ms": {"p99": 250},
        "error_rate": 0.001,
        "utilization": 0.8,
    }
    # a bad value is refused beside its field, nothing changed
    tree, html = apply({"error_rate": "2"})
    assert tree == {} and "Not applied" in html and "must be &lt;= 1" in html
    # all blank: the section goes away rather than staying as an empty mapping
    tree, _ = apply({})
    assert "objectives" not in tree
    assert scenario.versions.count() == 1  # applying is not saving


@pytest.mark.django_db
def test_inspector_edits_calls_with_probabilities_and_breakers_in_a_table(
    alice_client, scenario
):
    calls = (
        "calls: [db, {to: db, probability: 0.5, breaker: {open_s: 20, window_s: 5}}]"
    )
    document = WEB_TIER.replace("calls: [db]", calls)
    url = reverse("designer_inspect", args=[scenario.pk])
    shown = alice_client.post(url, {"document": document, "subject": "web"})
    html = shown.content.decode()
    assert 'data-testid="calls-table"' in html
    assert re.search(r'name="calls\.1\.probability"[^>]*value="0.5"', html)
    assert re.search(r'name="calls\.1\.open_s"[^>]*value="20"', html)
    assert re.search(r'name="calls\.1\.breaker"[^>]*checked', html)
    assert not re.search(r'name="calls\.0\.breaker"[^>]*checked', html)

    def apply(fields: dict) -> tuple[dict, str]:
        response = alice_client.post(
            url,
            {
                "document": document,
                "subject": "web",
                "apply": "1",
                "instances": "3",
                "work_ms.dist": "exponential",
                "work_ms.mean": "8",
                **fields,
            },
        )
        page = response.content.decode()
        match = re.search(
            r'<script id="inspector-result" type="application/json">(.*?)</script>',
            page,
        )
        tree = yaml.safe_load(json.loads(match.group(1))) if match else {}
        return tree, page

    # the first call gets a probability and a breaker; the second loses its
    # probability (its hidden window_s stays) and changes its error rate
    tree, page = apply(
        {
            "calls.__rows": "2",
            "calls.0.to": "db",
            "calls.0.probability": "0.3",
            "calls.0.breaker": "on",
            "calls.0.error_rate": "0.25",
            "calls.1.to": "db",
            "calls.1.breaker": "on",
            "calls.1.error_rate": "0.4",
            "calls.1.open_s": "20",
        }
    )
    assert tree, page[:2000]
    assert tree["components"]["web"]["calls"] == [
        {"to": "db", "probability": 0.3, "breaker": {"error_rate": 0.25}},
        {"to": "db", "breaker": {"open_s": 20, "window_s": 5, "error_rate": 0.4}},
    ]
    # a row with nothing but its id is a plain id again; a cleared row is removed
    tree, _ = apply({"calls.__rows": "2", "calls.0.to": "db", "calls.1.to": ""})
    assert tree["components"]["web"]["calls"] == ["db"]
    # a bad probability is refused beside the field, naming its path
    tree, page = apply(
        {"calls.__rows": "1", "calls.0.to": "db", "calls.0.probability": "1.5"}
    )
    assert tree == {} and "components.web.calls[0].probability" in page


@pytest.mark.django_db
def test_inspector_for_an_unknown_component_says_so(alice_client, scenario):
    response = alice_client.post(
        reverse("designer_inspect", args=[scenario.pk]),
        {"document": WEB_TIER, "subject": "nope"},
    )
    assert response.status_code == 200
    assert b"There is no component named" in response.content


@pytest.mark.django_db
def test_saving_keeps_node_positions_with_the_version(alice_client, scenario):
    layout = {"positions": {"lb": {"x": 10, "y": 20.5}, "web": {"x": 250, "y": 20}}}
    alice_client.post(
        reverse("scenario_detail", args=[scenario.pk]),
        {"document": WEB_TIER, "message": "moved", "layout": json.dumps(layout)},
    )
    version = ScenarioVersion.objects.get(scenario=scenario, number=2)
    assert version.layout == {
        "positions": {"lb": {"x": 10.0, "y": 20.5}, "web": {"x": 250.0, "y": 20.0}}
    }
    page = alice_client.get(reverse("scenario_detail", args=[scenario.pk]))
    assert b'id="designer-layout"' in page.content and b"250.0" in page.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw",
    [
        "nonsense",
        json.dumps({"positions": {"lb": {"x": "1", "y": 2}}}),
        json.dumps({"positions": {"lb": {"x": 1e308 * 10, "y": 2}}}).replace(
            "Infinity", "1e999"
        ),
        json.dumps([1]),
        "[" * 50,
    ],
)
def test_malformed_layouts_are_dropped_not_errors(alice_client, scenario, raw):
    response = alice_client.post(
        reverse("scenario_detail", args=[scenario.pk]),
        {"document": SMALL_DOC, "layout": raw},
    )
    assert response.status_code == 302
    assert scenario.versions.get(number=2).layout == {}


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(
        ["service", "cache", "database", "load_balancer", "lb", "web", "db"]
    ),
)
_trees = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "targets",
                    "calls",
                    "backing",
                    "rps",
                    "target",
                    "instances",
                    "components",
                    "workload",
                    "web",
                    "db",
                    "lb",
                    "primary",
                    "cores",
                    "x",
                ]
            ),
            children,
            max_size=4,
        ),
    ),
    max_leaves=20,
)


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(tree=_trees, text=st.text(max_size=120))
def test_fuzzed_trees_and_texts_never_get_a_server_error(
    alice_client, scenario, tree, text
):
    for body in ({"tree": tree}, {"text": text}):
        response = _apply(alice_client, scenario, body)
        assert response.status_code in (200, 400), (body, response.status_code)
        if response.status_code == 200 and response.json()["tree"] is not None:
            # Whatever the canvas would draw, the inspector can open it.
            for node in response.json()["graph"]["nodes"][1:]:
                inspect = alice_client.post(
                    reverse("designer_inspect", args=[scenario.pk]),
                    {"document": response.json()["text"], "subject": node["id"]},
                )
                assert inspect.status_code == 200


_FORM_NAMES = [
    "instances",
    "cores",
    "speed",
    "work_ms.dist",
    "work_ms.mean",
    "work_ms.cv",
    "calls",
    "queue_limit",
    "stateful",
    "scaling.__on",
    "scaling.contention",
    "primary.cores",
    "primary.read_ms.mean",
    "replicas.__on",
    "replicas.count",
    "shards.__on",
    "shards.count",
    "shards.strategy",
    "rps",
    "read_ratio",
    "target",
    "phases.__rows",
    "phases.0.at_s",
    "phases.0.rps",
    "regions",
    "keys.__on",
    "keys.count",
    "keys.zipf_s",
    "targets",
    "backing",
    "algorithm",
    "region",
]


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    subject=st.sampled_from(
        ["web", "db", "lb", "workload", "simulation", "network", "objectives"]
    ),
    values=st.dictionaries(
        st.sampled_from(_FORM_NAMES),
        st.one_of(
            st.text(max_size=12), st.sampled_from(["1", "0", "-1", "1e999", "on"])
        ),
        max_size=8,
    ),
)
def test_fuzzed_inspector_forms_never_get_a_server_error(
    alice_client, scenario, subject, values
):
    response = alice_client.post(
        reverse("designer_inspect", args=[scenario.pk]),
        {"document": WEB_TIER, "subject": subject, "apply": "1", **values},
    )
    if any("\x00" in v for v in values.values()):
        # Text that cannot be stored is refused before the form is read.
        assert response.status_code == 400
        return
    assert response.status_code == 200
    html = response.content.decode()
    match = re.search(
        r'<script id="inspector-result" type="application/json">(.*?)</script>', html
    )
    if match:  # applied: the new document is valid where the form touched it
        text = json.loads(match.group(1))
        assert yaml.safe_load(text)["components"]
    assert scenario.versions.count() == 1


@pytest.mark.django_db
def test_an_old_version_opens_in_the_designer_and_saves_as_the_next(
    alice_client, scenario
):
    url = reverse("scenario_detail", args=[scenario.pk])
    layout = {"positions": {"lb": {"x": 1.0, "y": 2.0}}}
    alice_client.post(
        url,
        {
            "document": WEB_TIER.replace("rps: 600", "rps: 700"),
            "layout": json.dumps(layout),
            "message": "faster",
        },
    )
    version_page = alice_client.get(reverse("scenario_version", args=[scenario.pk, 2]))
    assert f"{url}?version=2".encode() in version_page.content
    old = alice_client.get(url, {"version": "1"})
    assert old.status_code == 200
    assert b"rps: 600" in old.content and b"You are editing version 1" in old.content
    latest = alice_client.get(url)
    assert b"rps: 700" in latest.content and b"You are editing" not in latest.content
    assert b'"x": 1.0' in latest.content  # the latest version's layout
    assert alice_client.get(url, {"version": "9"}).status_code == 404
    assert alice_client.get(url, {"version": "x"}).status_code == 404
    alice_client.post(url, {"document": WEB_TIER, "message": "back to v1"})
    assert scenario.versions.count() == 3
    assert scenario.latest_version.document_text == WEB_TIER


@pytest.mark.django_db
@pytest.mark.parametrize("rows", [":", "-5", "1000000000", ""])
def test_a_tampered_phase_row_count_is_bounded_not_an_error(
    alice_client, scenario, rows
):
    response = alice_client.post(
        reverse("designer_inspect", args=[scenario.pk]),
        {
            "document": WEB_TIER,
            "subject": "workload",
            "apply": "1",
            "phases.__rows": rows,
        },
    )
    assert response.status_code == 200


def _choices(fields, name):
    for f in fields:
        if f.name == name:
            return f.choices
        found = _choices(f.children, name)
        if found is not None:
            return found
    return None


def test_the_inspectors_choices_are_the_documents_vocabulary():
    import simengine
    from dashboard.scenarios import inspector

    vocab = simengine.vocabulary
    tree = yaml.safe_load(
        WEB_TIER + "  cache: {type: cache, backing: db}\n"
        "  dbr: {type: database, replicas: {count: 1}, shards: {count: 2}}\n"
    )
    assert set(inspector.model_of_type()) == set(vocab.COMPONENT_TYPES)
    lb = inspector.build_form(tree, "lb").fields
    assert _choices(lb, "algorithm") == vocab.LB_ALGORITHMS
    assert _choices(lb, "layer") == vocab.LB_LAYERS
    web = inspector.build_form(tree, "web").fields
    assert _choices(web, "work_ms.dist") == vocab.DISTRIBUTIONS
    cache = inspector.build_form(tree, "cache").fields
    assert _choices(cache, "strategy") == vocab.CACHE_STRATEGIES
    assert _choices(cache, "eviction") == vocab.EVICTIONS
    assert _choices(cache, "invalidation") == vocab.INVALIDATIONS
    db = inspector.build_form(tree, "dbr").fields
    assert _choices(db, "replicas.mode") == vocab.REPLICA_MODES
    assert _choices(db, "replicas.reads") == vocab.READ_ROUTING
    assert _choices(db, "shards.strategy") == vocab.SHARD_STRATEGIES
    workload = inspector.build_form(tree, "workload").fields
    assert _choices(workload, "arrivals") == vocab.ARRIVALS


@pytest.mark.django_db
def test_the_designer_page_carries_the_vocabulary_for_its_script(
    alice_client, scenario
):
    import simengine

    response = alice_client.get(reverse("scenario_detail", args=[scenario.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    match = re.search(
        r'<script id="designer-vocabulary" type="application/json">(.*?)</script>',
        html,
        re.S,
    )
    assert match, "the designer's vocabulary is missing"
    vocab = json.loads(match.group(1))
    assert vocab["component_types"] == list(simengine.vocabulary.COMPONENT_TYPES)
    assert vocab["lb_algorithms"] == list(simengine.vocabulary.LB_ALGORITHMS)
    assert set(vocab["type_labels"]) == set(simengine.vocabulary.COMPONENT_TYPES)


def test_the_inspector_answers_not_found_for_a_component_whose_type_is_a_list():
    # found by the fuzz test: {'type': []} raised TypeError (unhashable) -> 500
    from dashboard.scenarios import inspector

    for kind in ([], {}, 3, None):
        with pytest.raises(inspector.NotFound):
            inspector.build_form({"components": {"web": {"type": kind}}}, "web")


def _applied_work(client, scenario, **fields):
    response = client.post(
        reverse("designer_inspect", args=[scenario.pk]),
        {
            "document": WEB_TIER,
            "subject": "web",
            "apply": "1",
            "instances": "2",
            "cores": "2",
            "calls": "db",
            **fields,
        },
    )
    html = response.content.decode()
    match = re.search(
        r'<script id="inspector-result" type="application/json">(.*?)</script>', html
    )
    return html, (yaml.safe_load(json.loads(match.group(1))) if match else None)


@pytest.mark.django_db
def test_inspector_writes_an_erlang_a_pareto_and_empirical_samples(
    alice_client, scenario
):
    _, tree = _applied_work(
        alice_client,
        scenario,
        **{
            "work_ms.dist": "erlang",
            "work_ms.mean": "8",
            "work_ms.k": "4",
            "work_ms.alpha": "3",
            "work_ms.cv": "2",
        },
    )
    assert tree["components"]["web"]["work_ms"] == {"dist": "erlang", "mean": 8, "k": 4}
    _, tree = _applied_work(
        alice_client,
        scenario,
        **{"work_ms.dist": "pareto", "work_ms.mean": "8", "work_ms.alpha": "2.5"},
    )
    assert tree["components"]["web"]["work_ms"] == {
        "dist": "pareto",
        "mean": 8,
        "alpha": 2.5,
    }
    _, tree = _applied_work(
        alice_client,
        scenario,
        **{
            "work_ms.dist": "empirical",
            "work_ms.mean": "8",
            "work_ms.samples": "3, 4.5\n12",
        },
    )
    assert tree["components"]["web"]["work_ms"] == {
        "dist": "empirical",
        "samples": [3, 4.5, 12],
    }
    # and the form shows them back
    form = alice_client.post(
        reverse("designer_inspect", args=[scenario.pk]),
        {"document": yaml.safe_dump(tree), "subject": "web"},
    ).content.decode()
    assert "3, 4.5, 12" in form and "data-samples-file" in form


@pytest.mark.django_db
def test_inspector_names_the_missing_parameter_of_a_distribution(
    alice_client, scenario
):
    html, tree = _applied_work(
        alice_client, scenario, **{"work_ms.dist": "erlang", "work_ms.mean": "8"}
    )
    assert tree is None  # not applied: the form shows the error on its field
    assert "an erlang needs k" in html
    html, tree = _applied_work(
        alice_client,
        scenario,
        **{"work_ms.dist": "empirical", "work_ms.samples": "3, x"},
    )
    assert tree is None
    assert "samples[1]" in html or "must be a number" in html


QUEUED = WEB_TIER.replace("    calls: [db]", "    calls: [db, payments]") + (
    "  payments: {type: queue, consumers: payment, concurrency: 8, capacity: 100}\n"
    "  payment: {type: service, cores: 8}\n"
)


def test_a_queue_is_drawn_with_its_consumers_and_inspected_from_the_schema():
    import simengine
    from dashboard.scenarios import designer, inspector

    tree = yaml.safe_load(QUEUED)
    simengine.parse_document(tree)  # the document is valid
    graph = designer.document_graph(tree)
    node = next(n for n in graph["nodes"] if n["id"] == "payments")
    assert node["type"] == "queue" and node["sub"] == "8 at once · 100 max"
    edges = {(e["source"], e["target"], e["kind"]) for e in graph["edges"]}
    assert ("web", "payments", "calls") in edges
    assert ("payments", "payment", "consumers") in edges
    assert "c_payments -.->|Consume| c_payment" in designer.document_mermaid(tree)
    fields = inspector.build_form(tree, "payments").fields
    names = {f.name for f in fields}
    assert {"consumers", "concurrency", "capacity", "when_full", "publish_ms"} <= names
    assert _choices(fields, "when_full") == simengine.vocabulary.QUEUE_FULL_POLICIES
    assert designer.vocabulary()["type_labels"]["queue"] == "Queue"


@pytest.mark.django_db
def test_the_palette_offers_a_queue(alice_client, scenario):
    response = alice_client.get(reverse("scenario_detail", args=[scenario.pk]))
    html = response.content.decode()
    assert 'data-add="queue"' in html


def test_a_cdn_is_drawn_in_front_of_its_origin_and_inspected_from_the_schema():
    import simengine
    from dashboard.scenarios import designer, inspector

    tree = yaml.safe_load(
        WEB_TIER.replace("target: lb", "target: edge").replace(
            "read_ratio: 0.9}", "read_ratio: 0.9, regions: {eu: 0.5, us: 0.5}}"
        )
        + "  edge: {type: cdn, regions: [eu, us], capacity_keys: 5000, origin: lb}\n"
    )
    simengine.parse_document(tree)  # the document is valid
    graph = designer.document_graph(tree)
    node = next(n for n in graph["nodes"] if n["id"] == "edge")
    assert node["type"] == "cdn" and node["sub"] == "5k keys · eu, us"
    edges = {(e["source"], e["target"], e["kind"]) for e in graph["edges"]}
    assert ("__clients__", "edge", "workload") in edges
    assert ("edge", "lb", "origin") in edges
    assert "c_edge -.->|Miss| c_lb" in designer.document_mermaid(tree)
    fields = inspector.build_form(tree, "edge").fields
    names = {f.name for f in fields}
    assert {"regions", "capacity_keys", "ttl_s", "hit_ms", "origin"} <= names
    assert designer.vocabulary()["type_labels"]["cdn"] == "CDN"


@pytest.mark.django_db
def test_the_palette_offers_a_cdn(alice_client, scenario):
    response = alice_client.get(reverse("scenario_detail", args=[scenario.pk]))
    assert 'data-add="cdn"' in response.content.decode()
