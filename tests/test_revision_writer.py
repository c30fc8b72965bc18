"""The Replay dialog's "Write a new revision…": the prompts it offers, and what saving one creates."""

import json

import pytest
from django.test import Client

from replay.rules import CROSS_BOUNDARY
from runs import services
from runs.models import PromptRevision, content_hash_of

from .builders import finished_run, support_workflow
from .factories import PromptRevisionFactory


@pytest.fixture
def workflow(acme):
    return support_workflow(acme)


@pytest.fixture
def source(workflow):
    return finished_run(workflow[0])


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def writer_url(run):
    return f"/acme/ai/runs/{run.run_id}/replay/revision"


def save(client, run, artifact_id, content, **extra):
    data = {"revision_artifact": artifact_id, "revision_content": content, **extra}
    return client.post(writer_url(run), data, HTTP_HX_REQUEST="true")


def test_the_writer_offers_the_prompts_of_the_versions_llm_nodes_prefilled_with_their_content(
    operator_client, source, workflow
):
    revision = workflow[1]
    html = operator_client.get(writer_url(source), HTTP_HX_REQUEST="true").content.decode()
    assert f'value="{revision.artifact.artifact_id}" selected' in html and "used by draft" in html
    assert "Reply to {{ trigger.name }}</textarea>" in html


def test_the_writer_offers_the_prompts_of_the_chosen_target_version(operator_client, source, workflow, acme):
    version, revision = workflow
    other = PromptRevisionFactory(artifact__workspace=acme, content="Answer {{ trigger.name }} kindly")
    draft = version.nodes.get(node_id="draft").config
    prompt = {"artifact_id": other.artifact.artifact_id, "content_hash": other.content_hash}
    services.add_version(
        workflow=version.workflow, nodes=[{"id": "draft", "type": "llm", "prompt": prompt, "model": draft["model"]}]
    )
    html = operator_client.get(writer_url(source), {"target_version": 2}, HTTP_HX_REQUEST="true").content.decode()
    assert other.artifact.artifact_id in html and revision.artifact.artifact_id not in html
    assert "Answer {{ trigger.name }} kindly</textarea>" in html


def test_saving_new_content_creates_a_revision_and_fills_both_fields(operator_client, source, workflow):
    artifact = workflow[1].artifact
    response = save(operator_client, source, artifact.artifact_id, "Be brief with {{ trigger.name }}")
    expected = content_hash_of("Be brief with {{ trigger.name }}")
    assert response.status_code == 201
    assert PromptRevision.objects.filter(artifact=artifact, content_hash=expected).exists()
    event = json.loads(response.headers["HX-Trigger-After-Settle"])["revisionSaved"]
    assert event == {"artifact_id": artifact.artifact_id, "content_hash": expected}
    assert f"Saved a new revision: {expected}." in response.content.decode()


def test_saving_content_identical_to_a_revision_reuses_it(operator_client, source, workflow):
    revision = workflow[1]
    response = save(operator_client, source, revision.artifact.artifact_id, revision.content)
    assert response.status_code == 200 and PromptRevision.objects.filter(artifact=revision.artifact).count() == 1
    assert json.loads(response.headers["HX-Trigger-After-Settle"])["revisionSaved"]["content_hash"] == (
        revision.content_hash
    )
    assert "This content matches an existing revision" in response.content.decode()


def test_the_writer_saves_what_the_api_would_save(operator_client, api, source, workflow):
    artifact = workflow[1].artifact
    via_dialog = save(operator_client, source, artifact.artifact_id, "Hello {{ trigger.name }}")
    via_api = api.post(
        f"/api/v1/acme/prompts/{artifact.artifact_id}/revisions",
        {"content": "Hello {{ trigger.name }}"},
        content_type="application/json",
    )
    hash_of_dialog = json.loads(via_dialog.headers["HX-Trigger-After-Settle"])["revisionSaved"]["content_hash"]
    assert via_api.json()["content_hash"] == hash_of_dialog
    assert PromptRevision.objects.filter(artifact=artifact).count() == 2


def test_empty_content_is_refused_and_creates_nothing(operator_client, source, workflow):
    artifact = workflow[1].artifact
    response = save(operator_client, source, artifact.artifact_id, "")
    assert response.status_code == 400 and "HX-Trigger-After-Settle" not in response.headers
    assert PromptRevision.objects.filter(artifact=artifact).count() == 1


def test_an_artifact_no_llm_node_of_the_version_uses_is_refused(operator_client, source, acme):
    unused = PromptRevisionFactory(artifact__workspace=acme, content="Unused")
    response = save(operator_client, source, unused.artifact.artifact_id, "Something new")
    assert response.status_code == 400
    assert "Choose a prompt artifact that an LLM node of v1 uses." in response.content.decode()
    assert PromptRevision.objects.filter(artifact=unused.artifact).count() == 1


def test_a_viewer_cannot_save_a_revision(viewer, source, workflow):
    response = save(logged_in(viewer), source, workflow[1].artifact.artifact_id, "A viewer's words")
    assert response.status_code == 403 and PromptRevision.objects.filter(artifact=workflow[1].artifact).count() == 1


def test_an_outsider_gets_the_cross_boundary_answer(outsider, source, workflow):
    response = save(logged_in(outsider), source, workflow[1].artifact.artifact_id, "Outside words")
    assert response.status_code == 403 and CROSS_BOUNDARY in response.content.decode()
    assert PromptRevision.objects.filter(artifact=workflow[1].artifact).count() == 1


def test_opening_the_writer_takes_a_fixed_number_of_queries(operator_client, source, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        assert operator_client.get(writer_url(source), HTTP_HX_REQUEST="true").status_code == 200


def test_the_dialog_offers_the_writer_beside_the_two_prompt_fields(operator_client, source):
    html = operator_client.get(f"/acme/ai/runs/{source.run_id}/replay", HTTP_HX_REQUEST="true").content.decode()
    assert 'placeholder="prompt_a1b2c3d4"' in html and 'placeholder="sha256:9f86d081884c7d65..."' in html
    assert "Write a new revision…" in html
