"""One test per row of the rules table: status code, exact message, and the order the rules are checked in."""

import pytest

from runs import services
from runs.http.errors import Rejected
from runs.models import Run

from .builders import finished_run, run_in_status, submit_replay, support_workflow, tool
from .factories import PromptRevisionFactory


@pytest.fixture
def version(acme):
    return support_workflow(acme)[0]


@pytest.fixture
def source(version):
    return finished_run(version)


def reject(user, run, request=None, **kwargs):
    runs_before = Run.objects.count()
    with pytest.raises(Rejected) as info:
        submit_replay(user=user, run=run, request={"mode": "as_is"} if request is None else request, **kwargs)
    assert Run.objects.count() == runs_before, "a rejected replay creates nothing"
    return info.value.status, info.value.message


def test_replay_of_a_run_of_another_workspace_is_403(source, outsider):
    assert reject(outsider, source) == (403, "You can only replay runs that belong to your own workspace and account.")


def test_viewer_cannot_replay(source, viewer):
    status, message = reject(viewer, source)
    assert status == 403 and "Viewers cannot replay" in message


@pytest.mark.parametrize("status", ["pending", "running", "paused"])
def test_replay_of_an_in_flight_run_is_409(version, operator, status):
    assert reject(operator, run_in_status(version, status)) == (409, "Cannot replay an in-flight run")


def test_replay_of_a_run_whose_version_was_deleted_is_409(source, operator):
    source.version.delete()
    source.refresh_from_db()
    assert reject(operator, source) == (
        409,
        "This run cannot be replayed because its source workflow version is no longer available.",
    )


def test_replay_of_a_paused_workflow_is_409(source, operator):
    services.set_workflow_paused(workflow=source.workflow, paused=True, reason="incident 42")
    assert reject(operator, source) == (
        409,
        "This workflow is paused for safety reasons. Unpause it before replaying its runs.",
    )


def test_replay_beyond_depth_5_is_429(version, operator):
    deep = finished_run(version, replay_depth=5, mode="as_is")
    assert reject(operator, deep) == (429, "Replay chain exceeded depth limit")


def test_a_chain_of_replays_stops_exactly_at_depth_5(source, operator):
    from runs.engine.executor import execute

    run = source
    for depth in range(1, 6):
        run = submit_replay(user=operator, run=run, request={"mode": "as_is"}).run
        execute(run.run_id)
        run.refresh_from_db()
        assert run.replay_depth == depth and run.status == "completed"
    assert reject(operator, run) == (429, "Replay chain exceeded depth limit")


def test_in_flight_is_checked_before_depth(version, operator):
    both = run_in_status(version, "running", replay_depth=5, mode="as_is")
    assert reject(operator, both) == (409, "Cannot replay an in-flight run")


def test_depth_is_checked_before_fields(version, operator):
    deep = finished_run(version, replay_depth=5, mode="as_is")
    assert reject(operator, deep, {"mode": "nonsense"}) == (429, "Replay chain exceeded depth limit")


@pytest.mark.parametrize(
    "request_body,field",
    [
        ({}, "mode"),
        ({"mode": "prompt"}, "prompt_artifact_id"),
        ({"mode": "prompt", "prompt_artifact_id": "prompt_zz"}, "prompt_artifact_id"),
        ({"mode": "prompt", "prompt_artifact_id": "prompt_a1b2c3d4"}, "content_hash"),
        ({"mode": "prompt", "prompt_artifact_id": "prompt_a1b2c3d4", "content_hash": "sha256:abc"}, "content_hash"),
        ({"mode": "model", "model_ref": "anthropic:claude-opus-4-7"}, "model_id"),
        ({"mode": "model", "model_id": "claude-opus-4-7"}, "model_ref"),
        ({"mode": "model", "model_id": "claude-opus-4-7", "model_ref": "anthropic:gpt-5"}, "model_ref"),
        ({"mode": "model", "model_id": 7, "model_ref": "x:7"}, "model_id"),
        ({"mode": "as_is", "model_id": "gpt-5"}, "model_id"),
        ({"mode": "as_is", "target_version": "two"}, "target_version"),
        ({"mode": "as_is", "target_version": 0}, "target_version"),
        ({"mode": "as_is", "node_mapping": ["a"]}, "node_mapping"),
        ({"mode": "as_is", "save_mapping": "everyone"}, "save_mapping"),
    ],
)
def test_malformed_fields_are_400_naming_the_field(source, operator, request_body, field):
    status, message = reject(operator, source, request_body)
    assert status == 400 and field in message


def test_unknown_prompt_artifact_is_404_naming_it(source, operator):
    status, message = reject(
        operator,
        source,
        {"mode": "prompt", "prompt_artifact_id": "prompt_00000000", "content_hash": "sha256:" + "0" * 64},
    )
    assert status == 404 and "prompt_00000000" in message


def test_hash_that_is_not_a_revision_of_the_artifact_is_404(source, operator):
    artifact_id = source.version.nodes.get(node_id="draft").config["prompt"]["artifact_id"]
    status, message = reject(
        operator, source, {"mode": "prompt", "prompt_artifact_id": artifact_id, "content_hash": "sha256:" + "f" * 64}
    )
    assert status == 404 and ("sha256:" + "f" * 64) in message


def test_prompt_of_another_workspace_is_404(source, operator, globex):
    foreign = PromptRevisionFactory(artifact__workspace=globex)
    status, message = reject(
        operator,
        source,
        {"mode": "prompt", "prompt_artifact_id": foreign.artifact.artifact_id, "content_hash": foreign.content_hash},
    )
    assert status == 404 and foreign.artifact.artifact_id in message


def test_artifact_unused_by_the_target_version_is_422(source, operator, acme):
    unused = PromptRevisionFactory(artifact__workspace=acme)
    status, message = reject(
        operator,
        source,
        {"mode": "prompt", "prompt_artifact_id": unused.artifact.artifact_id, "content_hash": unused.content_hash},
    )
    assert status == 422 and unused.artifact.artifact_id in message and "not used" in message


MODEL_NOT_AVAILABLE = (
    "This model is not available for this workspace. Pick an allowed model, or update the workspace policy."
)
PROVIDER_BLOCKED = "This model provider is blocked by the workspace policy. Pick a model from an allowed provider, or update the policy."


def test_retired_model_is_403(source, operator):
    assert reject(
        operator, source, {"mode": "model", "model_id": "claude-2-1", "model_ref": "anthropic:claude-2-1"}
    ) == (403, MODEL_NOT_AVAILABLE)


def test_model_outside_the_workspace_allowlist_is_403(source, operator, acme):
    acme.allowed_models = ["anthropic:claude-opus-4-7"]
    acme.save()
    assert reject(operator, source, {"mode": "model", "model_id": "gpt-5", "model_ref": "openai:gpt-5"}) == (
        403,
        MODEL_NOT_AVAILABLE,
    )


def test_an_as_is_replay_of_a_model_replay_whose_model_is_no_longer_allowed_is_403(source, operator, acme):
    """The replay keeps its source's model: the allowlist is asked about it as about a model the request names."""
    from .builders import executed_replay

    modelled = executed_replay(
        user=operator, run=source, request={"mode": "model", "model_id": "gpt-5", "model_ref": "openai:gpt-5"}
    )
    acme.allowed_models = ["anthropic:claude-opus-4-7"]
    acme.save()
    assert reject(operator, modelled) == (
        403,
        f"This run was replayed with openai:gpt-5, which this replay keeps: {MODEL_NOT_AVAILABLE}",
    )


def test_model_outside_the_account_allowlist_is_403(source, operator, acme):
    acme.account.allowed_models = ["openai:gpt-5"]
    acme.account.save()
    assert reject(
        operator, source, {"mode": "model", "model_id": "claude-haiku-4-5", "model_ref": "anthropic:claude-haiku-4-5"}
    ) == (403, MODEL_NOT_AVAILABLE)


def test_blocked_provider_is_403(source, operator, acme):
    acme.allowed_providers = ["anthropic"]
    acme.save()
    assert reject(operator, source, {"mode": "model", "model_id": "gpt-5", "model_ref": "openai:gpt-5"}) == (
        403,
        PROVIDER_BLOCKED,
    )


def test_unknown_model_is_404(source, operator):
    status, message = reject(operator, source, {"mode": "model", "model_id": "gpt-9", "model_ref": "openai:gpt-9"})
    assert status == 404 and "openai:gpt-9" in message


@pytest.fixture
def renamed_v2(version):
    """Version 2 renames draft → compose."""
    revision_nodes = {n.node_id: n for n in version.nodes.all()}
    draft = revision_nodes["draft"].config
    return services.add_version(
        workflow=version.workflow,
        nodes=[
            {"id": "compose", "type": "llm", "prompt": draft["prompt"], "model": draft["model"]},
            tool(
                "notify",
                "messages.send",
                {"to": "{{ trigger.email }}", "body": "{{ nodes.compose.output }}"},
                after=["compose"],
            ),
        ],
    )


def test_unmapped_renamed_nodes_are_422_with_the_count(source, operator, renamed_v2):
    assert reject(operator, source, {"mode": "as_is", "target_version": 2}) == (
        422,
        "1 renamed node(s) need mapping before this cross-version replay can run.",
    )


def test_mapping_key_that_is_not_a_renamed_node_is_422(source, operator, renamed_v2):
    status, message = reject(
        operator,
        source,
        {"mode": "as_is", "target_version": 2, "node_mapping": {"draft": "compose", "notify": "compose"}},
    )
    assert status == 422 and "'notify' is not a renamed node" in message


def test_mapping_value_that_is_not_a_target_node_is_422(source, operator, renamed_v2):
    status, message = reject(
        operator, source, {"mode": "as_is", "target_version": 2, "node_mapping": {"draft": "ghost"}}
    )
    assert status == 422 and "'ghost' is not a node of the target version" in message


def test_unknown_target_version_is_404(source, operator):
    assert reject(operator, source, {"mode": "as_is", "target_version": 9})[0] == 404


def test_quota_allows_exactly_20_per_minute_per_workspace(source, operator, globex, outsider):
    for _ in range(20):
        submit_replay(user=operator, run=source, request={"mode": "as_is"})
    assert reject(operator, source) == (429, "Replay quota exceeded")
    other = finished_run(support_workflow(globex)[0])
    assert submit_replay(user=outsider, run=other, request={"mode": "as_is"}).created


def test_rejected_replays_do_not_use_quota(source, operator):
    for _ in range(25):
        reject(operator, source, {"mode": "model", "model_id": "claude-2-1", "model_ref": "anthropic:claude-2-1"})
    assert submit_replay(user=operator, run=source, request={"mode": "as_is"}).created


def test_quota_accepts_again_in_the_next_minute(source, operator, settings, ratelimit_clock):
    settings.REPLAY_QUOTA_RATE = "1/m"
    submit_replay(user=operator, run=source, request={"mode": "as_is"})
    assert reject(operator, source) == (429, "Replay quota exceeded")
    ratelimit_clock.advance(60)
    assert submit_replay(user=operator, run=source, request={"mode": "as_is"}).created


def test_limits_are_settings(source, operator, settings):
    settings.REPLAY_QUOTA_RATE = "2/m"
    submit_replay(user=operator, run=source, request={"mode": "as_is"})
    submit_replay(user=operator, run=source, request={"mode": "as_is"})
    assert reject(operator, source)[0] == 429
