"""Hypothesis-driven hostile requests to every JSON endpoint and form: never a 500, never a partial row."""

import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from ..builders import finished_run, renaming_version, support_workflow
from ..conftest import rolled_back
from ..hostile import HOSTILE_BODIES, hostile_json, hostile_text
from ..test_api import json_values
from .test_cross_boundary import snapshot

pytestmark = pytest.mark.django_db

huge = st.sampled_from(["x" * 300_000, "é" * 50_000, "\u202e" * 1000, "\x00" * 10, "𝕏" * 20_000])
# Lone surrogates, NULs, non-ASCII digits; non-finite numbers and very deep JSON in the values and bodies below.
text = st.text(max_size=30) | huge | hostile_text
json_values = json_values | hostile_json
node_pairs = st.dictionaries(text, text, max_size=4) | st.just({f"n{i}": "compose" for i in range(1001)})


def bodies(fields: dict):
    return (
        st.fixed_dictionaries({}, optional={k: v | json_values for k, v in fields.items()})
        | json_values
        | huge
        | HOSTILE_BODIES
    )


NODE = {"id": "a", "type": "tool", "tool": "records.lookup", "args": {}}
ENDPOINTS = {
    "policy": (
        "put",
        "/api/v1/acme/policy",
        bodies(
            {
                "allowed_models": st.lists(text, max_size=3),
                "allowed_providers": st.lists(text, max_size=3),
                "replay_allow_mutations": st.booleans(),
            }
        ),
    ),
    "mappings": (
        "put",
        "/api/v1/acme/mappings",
        bodies(
            {
                "source_version": st.integers(-1, 10**12),
                "target_version": st.integers(-1, 10**12),
                "visibility": st.sampled_from(["operator", "workspace", "public"]),
                "pairs": node_pairs,
            }
        ),
    ),
    "prompts": ("post", "/api/v1/acme/prompts", bodies({"name": text, "content": text, "content_hash": text})),
    "revisions": ("post", "/api/v1/acme/prompts/{artifact}/revisions", bodies({"content": text, "content_hash": text})),
    "workflows": (
        "post",
        "/api/v1/acme/workflows",
        bodies({"name": text, "nodes": st.lists(st.just(NODE) | json_values, max_size=3)}),
    ),
    "versions": (
        "post",
        "/api/v1/acme/workflows/{workflow}/versions",
        bodies({"nodes": st.lists(st.just(NODE) | json_values, max_size=3)}),
    ),
    "trigger": ("post", "/api/v1/acme/workflows/{workflow}/runs", bodies({"payload": json_values | huge})),
    "pause": ("post", "/api/v1/acme/workflows/{workflow}/pause", bodies({"reason": text})),
}
FORMS = {
    "replay-dialog": "/acme/ai/runs/{run}/replay",
    "mapping-dialog": "/acme/ai/runs/{run}/node-mapping",
}
form_fields = st.dictionaries(
    st.sampled_from(
        [
            "mode",
            "prompt_artifact_id",
            "content_hash",
            "model_id",
            "model_ref",
            "target_version",
            "visibility",
            "idempotency_key",
            "map:draft",
            "map:notify",
            "save_mapping",
        ]
    )
    | st.text(max_size=10),
    # A form carries bytes: a lone surrogate arrives as bytes that are not UTF-8, which Django reads as U+FFFD.
    text.map(lambda t: t.encode("utf-8", "surrogatepass").decode("utf-8", "replace")),
    max_size=6,
)


@pytest.fixture
def world(acme, admin_user, operator):
    version, revision = support_workflow(acme)
    renaming_version(version)
    run = finished_run(version)
    return {"run": run.run_id, "workflow": version.workflow.workflow_id, "artifact": revision.artifact.artifact_id}


def check(response, before):
    assert response.status_code < 500, response.content[:300]
    if response.status_code >= 400:
        assert snapshot() == before, "a refused request left rows behind"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_json_endpoints_never_500_and_leave_nothing_on_4xx(endpoint, data, world, admin_api):
    method, url, strategy = ENDPOINTS[endpoint]
    body = data.draw(strategy)
    with rolled_back():
        before = snapshot()
        raw = body if isinstance(body, str) else json.dumps(body)
        raw = raw.encode("utf-8", "surrogatepass")  # a lone surrogate as raw text: bytes that are not UTF-8
        response = getattr(admin_api, method)(url.format(**world), data=raw, content_type="application/json")
        check(response, before)
        assert response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("form", FORMS)
@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=form_fields)
def test_fuzzed_forms_never_500_and_leave_nothing_on_4xx(form, fields, world, operator_client):
    from django.core.cache import cache

    with rolled_back():
        cache.clear()  # the quota is not what is being fuzzed
        before = snapshot()
        response = operator_client.post(FORMS[form].format(**world), fields, HTTP_HX_REQUEST="true")
        check(response, before)
