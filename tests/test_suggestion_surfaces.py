"""Where suggested targets show (issue 32): the mapping dialog, the replay plan, the unmapped refusal, the tally."""

import json

import pytest

from mappings.models import NodeMapping, SuggestionTally
from runs import services

from .builders import finished_run, llm, support_workflow, tool
from .factories import PromptRevisionFactory, UserFactory
from .test_mappings import pair  # noqa: F401  (the fixture: v1 draft → notify, v2 renames draft → compose)

HTMX = {"HTTP_HX_REQUEST": "true"}


def dialog(client, run, number=2) -> str:
    return client.get(f"/acme/ai/runs/{run.run_id}/node-mapping?target_version={number}", **HTMX).content.decode()


def test_the_dialog_starts_on_the_preselected_target_with_its_reasons(operator_client, pair):  # noqa: F811
    source, _, _ = pair
    html = dialog(operator_client, source)
    assert 'data-chosen="compose"' in html and '<option value="compose" selected>compose</option>' in html
    assert 'Suggested <span class="mono">compose</span> (9' in html
    assert "identical definition, same downstream notify." in html
    assert 'data-candidates="[[&quot;compose&quot;, 9' in html


def test_a_saved_mapping_wins_over_the_suggestion_in_the_dialog(operator_client, pair, operator, acme):  # noqa: F811
    source, v1, v2 = pair
    operator_client.post(
        f"/acme/ai/runs/{source.run_id}/node-mapping",
        {"target_version": "2", "map:draft": "notify", "visibility": "operator"},
        **HTMX,
    )
    html = dialog(operator_client, source)
    assert 'data-chosen="notify"' in html and 'Suggested <span class="mono">compose</span>' in html


def test_a_node_without_a_good_candidate_says_no_confident_suggestion(operator_client, acme):
    version, _ = support_workflow(acme)
    source = finished_run(version)
    other = PromptRevisionFactory(artifact__workspace=acme, content="Translate {{ trigger.text }}")
    services.add_version(
        workflow=version.workflow,
        nodes=[llm("translate", other, model="openai:gpt-5-mini"), tool("notify", "messages.send", {}, ["translate"])],
    )
    html = dialog(operator_client, source)
    assert 'data-chosen=""' in html and "Pick target" in html
    assert "No confident suggestion" in html


def test_the_replay_plan_answers_suggestions_beside_renamed_nodes(api, pair):  # noqa: F811
    source, _, _ = pair
    data = api.get(f"/api/v1/acme/runs/{source.run_id}/replay-plan?target_version=2").json()
    assert data["renamed_nodes"] == ["draft"]
    found = data["suggestions"]["draft"]
    assert found["preselected"] == "compose"
    assert found["candidates"][0]["target"] == "compose" and 0.9 <= found["candidates"][0]["confidence"] <= 1
    assert found["candidates"][0]["reasons"][0] == "identical definition"


def test_the_openapi_document_declares_the_suggestions(client):
    schemas = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    plan = next(
        s for name, s in schemas.items() if name.startswith("ReplayPlan") and "renamed_nodes" in s["properties"]
    )
    assert "suggestions" in plan["required"]
    assert any(name.startswith("NodeSuggestions") for name in schemas)


def test_an_api_replay_without_a_mapping_lists_each_unmapped_node_with_its_suggestions(api, pair):  # noqa: F811
    source, _, _ = pair
    response = api.post(
        f"/api/v1/acme/runs/{source.run_id}/replays",
        data=json.dumps({"mode": "as_is", "target_version": 2}),
        content_type="application/json",
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unmapped_nodes"
    assert error["nodes"] == ["draft"]
    assert error["suggestions"]["draft"]["preselected"] == "compose"
    assert error["suggestions"]["draft"]["candidates"][0]["reasons"][0] == "identical definition"


def save_in_dialog(client, run, target):
    return client.post(
        f"/acme/ai/runs/{run.run_id}/node-mapping",
        {"target_version": "2", "map:draft": target, "visibility": "operator"},
        **HTMX,
    )


def test_saving_the_preselected_target_counts_as_accepted(operator_client, pair, acme):  # noqa: F811
    source, _, _ = pair
    assert save_in_dialog(operator_client, source, "compose").status_code == 200
    tally = SuggestionTally.objects.get(workspace=acme)
    assert (tally.accepted, tally.overridden) == (1, 0)


def test_saving_another_target_counts_as_overridden(operator_client, pair, acme):  # noqa: F811
    source, _, _ = pair
    save_in_dialog(operator_client, source, "compose")
    save_in_dialog(operator_client, source, "notify")
    tally = SuggestionTally.objects.get(workspace=acme)
    assert (tally.accepted, tally.overridden) == (1, 1)
    assert NodeMapping.objects.get().pairs_dict() == {"draft": "notify"}


def test_nothing_is_saved_or_counted_without_the_operator(operator_client, pair):  # noqa: F811
    source, _, _ = pair
    dialog(operator_client, source)
    assert not NodeMapping.objects.exists() and not SuggestionTally.objects.exists()


@pytest.mark.django_db
def test_the_admin_shows_each_workspaces_tally(client, pair, operator_client, acme):  # noqa: F811
    source, _, _ = pair
    save_in_dialog(operator_client, source, "compose")
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    html = client.get("/admin/mappings/suggestiontally/").content.decode()
    assert "acme" in html.lower() and "100%" in html
