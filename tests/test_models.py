import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from runs.models import (
    CatalogModel,
    Node,
    PromptArtifact,
    PromptRevision,
    Run,
    Step,
    Workflow,
    WorkflowVersion,
    content_hash_of,
)

from .builders import PAYLOAD, support_workflow


def _violates(fn):
    with pytest.raises(IntegrityError), transaction.atomic():
        fn()


def test_prompt_revision_hash_is_computed_from_content(acme):
    artifact = PromptArtifact.objects.create(workspace=acme, name="p")
    revision = PromptRevision.objects.create(artifact=artifact, content="hello")
    assert revision.content_hash == content_hash_of("hello")
    assert revision.content_hash.startswith("sha256:") and len(revision.content_hash) == 71


def test_prompt_revision_with_a_hash_that_does_not_match_content_is_refused(acme):
    artifact = PromptArtifact.objects.create(workspace=acme, name="p")
    with pytest.raises(ValidationError):
        PromptRevision.objects.create(artifact=artifact, content="hello", content_hash="sha256:" + "0" * 64)
    assert not PromptRevision.objects.exists()


def test_malformed_prompt_artifact_id_violates_a_constraint(acme):
    _violates(lambda: PromptArtifact.objects.create(workspace=acme, name="p", artifact_id="prompt_XYZ"))


def test_malformed_content_hash_violates_a_constraint(acme):
    artifact = PromptArtifact.objects.create(workspace=acme, name="p")
    _violates(
        lambda: PromptRevision.objects.bulk_create(
            [PromptRevision(artifact=artifact, content="x", content_hash="md5:abc")]
        )
    )


def test_node_ids_are_unique_per_version(acme):
    version, _ = support_workflow(acme)
    _violates(lambda: Node.objects.create(version=version, node_id="draft", type="llm"))


def test_node_type_must_be_llm_or_tool(acme):
    version, _ = support_workflow(acme)
    _violates(lambda: Node.objects.create(version=version, node_id="x", type="sql"))


def test_run_status_must_be_a_known_status(acme):
    version, _ = support_workflow(acme)
    _violates(
        lambda: Run.objects.create(
            workspace=acme, workflow=version.workflow, version=version, version_number=1, status="exploded"
        )
    )


def test_run_id_format_is_enforced(acme):
    version, _ = support_workflow(acme)
    _violates(
        lambda: Run.objects.create(run_id="run_NOPE", workspace=acme, workflow=version.workflow, version_number=1)
    )


def test_replay_depth_cannot_be_negative_and_matches_mode(acme):
    version, _ = support_workflow(acme)
    _violates(
        lambda: Run.objects.create(workspace=acme, workflow=version.workflow, version_number=1, replay_depth=2, mode="")
    )
    _violates(
        lambda: Run.objects.create(
            workspace=acme, workflow=version.workflow, version_number=1, replay_depth=0, mode="as_is"
        )
    )


def test_a_step_is_never_recorded_twice_for_one_node(acme):
    version, _ = support_workflow(acme)
    run = Run.objects.create(workspace=acme, workflow=version.workflow, version=version, version_number=1)
    Step.objects.create(run=run, node_id="draft", type="llm", position=0)
    _violates(lambda: Step.objects.create(run=run, node_id="draft", type="llm", position=1))


def test_version_numbers_are_unique_per_workflow(acme):
    version, _ = support_workflow(acme)
    _violates(lambda: WorkflowVersion.objects.create(workflow=version.workflow, number=1))


def test_catalog_model_ref_must_be_provider_colon_model_id(db):
    _violates(lambda: CatalogModel.objects.create(model_id="x", provider="anthropic", model_ref="openai:x"))


def test_model_catalog_exists_without_demo_data(db):
    refs = set(CatalogModel.objects.values_list("model_ref", flat=True))
    assert {
        "anthropic:claude-opus-4-7",
        "anthropic:claude-sonnet-4-5",
        "anthropic:claude-haiku-4-5",
        "openai:gpt-5",
        "openai:gpt-5-mini",
        "anthropic:claude-2-1",
    } <= refs
    assert CatalogModel.objects.get(model_ref="anthropic:claude-2-1").retired


def test_deleting_a_version_keeps_its_runs_with_a_null_version(acme):
    version, _ = support_workflow(acme)
    run = Run.objects.create(
        workspace=acme, workflow=version.workflow, version=version, version_number=1, trigger_payload=PAYLOAD
    )
    version.delete()
    run.refresh_from_db()
    assert run.version is None and run.version_number == 1


def test_workflow_id_format_is_enforced(acme):
    _violates(lambda: Workflow.objects.create(workspace=acme, name="w", workflow_id="wf_bad"))
