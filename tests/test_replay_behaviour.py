"""What a replay does once accepted: lineage, overrides, dry-run, idempotency, mutation plan."""

from pathlib import Path

import pytest

from replay.management.commands.replay import Command
from replay.services import preview_replay
from runs import services
from runs.engine.executor import execute
from runs.http.errors import Rejected
from runs.models import OutboxMessage, Run, ToolCall

from .builders import finished_run, renaming_version, submit_replay, support_workflow
from .worker import dispatched_run_ids, purge_broker

pytestmark = pytest.mark.usefixtures("run_max_parallel")


def replay_and_run(user, run, request):
    new = submit_replay(user=user, run=run, request=request).run
    execute(new.run_id)
    new.refresh_from_db()
    return new


def test_as_is_replay_reproduces_the_original_outputs_and_records_lineage(acme, operator):
    version, _ = support_workflow(acme)
    source = finished_run(version)
    replay = replay_and_run(operator, source, {"mode": "as_is"})
    assert replay.status == "completed" and replay.replay_of == source and replay.replay_depth == 1
    assert (
        replay.mode == "as_is" and replay.requested_by == operator and replay.trigger_payload == source.trigger_payload
    )
    assert replay.steps.get(node_id="draft").output == source.steps.get(node_id="draft").output


def test_the_original_run_is_never_modified(acme, operator):
    version, _ = support_workflow(acme)
    source = finished_run(version)
    before = Run.objects.filter(pk=source.pk).values().get()
    replay_and_run(operator, source, {"mode": "as_is"})
    assert Run.objects.filter(pk=source.pk).values().get() == before


def test_replay_of_a_run_that_sent_a_message_dry_runs_it(acme, operator):
    version, _ = support_workflow(acme)
    source = finished_run(version)
    assert OutboxMessage.objects.count() == 1
    replay = replay_and_run(operator, source, {"mode": "as_is"})
    assert OutboxMessage.objects.count() == 1, "no new outbox row"
    call = ToolCall.objects.get(step__run=replay)
    original = ToolCall.objects.get(step__run=source)
    assert call.dry_run and call.result == original.result


def test_node_policy_opt_in_invokes_the_mutation_exactly_once(acme, operator):
    version, _ = support_workflow(acme, allow_send=True)
    source = finished_run(version)
    replay = replay_and_run(operator, source, {"mode": "as_is", "confirm_invoke": True})
    assert OutboxMessage.objects.filter(run=replay).count() == 1
    assert not ToolCall.objects.get(step__run=replay).dry_run


def test_workspace_policy_opt_in_applies_to_nodes_without_their_own_policy(acme, operator):
    version, _ = support_workflow(acme)
    source = finished_run(version)
    acme.replay_allow_mutations = True
    acme.save()
    replay = replay_and_run(operator, source, {"mode": "as_is", "confirm_invoke": True})
    assert OutboxMessage.objects.filter(run=replay).count() == 1


def test_node_policy_false_overrides_the_workspace_opt_in(acme, operator):
    version, _ = support_workflow(acme, allow_send=False)
    source = finished_run(version)
    acme.replay_allow_mutations = True
    acme.save()
    replay = replay_and_run(operator, source, {"mode": "as_is"})
    assert not OutboxMessage.objects.filter(run=replay).exists()


def test_preview_names_the_invoking_nodes_and_why(acme, operator):
    version, _ = support_workflow(acme, allow_send=True)
    source = finished_run(version)
    membership = operator.memberships.get(workspace=acme)
    preview = preview_replay(membership=membership, run_id=source.run_id, fields={"mode": "as_is"})
    assert [(n.node_id, n.tool, n.policy) for n in preview.invoking] == [("notify", "messages.send", "node policy")]
    version2, _ = support_workflow(acme)
    source2 = finished_run(version2)
    assert preview_replay(membership=membership, run_id=source2.run_id, fields={"mode": "as_is"}).invoking == []


def test_dry_run_without_an_original_result_returns_a_placeholder(acme, operator):
    version, _ = support_workflow(acme)
    source = finished_run(version, payload={"name": "Dana"})  # failed at notify: no recorded result
    replay = submit_replay(user=operator, run=source, request={"mode": "as_is"}).run
    Run.objects.filter(pk=replay.pk).update(trigger_payload={"name": "Dana", "email": "d@example.com"})
    execute(replay.run_id)
    assert ToolCall.objects.get(step__run=replay).result == {"dry_run": True}


def test_new_prompt_replay_uses_the_revision_on_every_node_of_that_artifact(acme, operator):
    version, revision = support_workflow(acme)
    newer = services.add_prompt_revision(artifact=revision.artifact, content="Be brief with {{ trigger.name }}")
    source = finished_run(version)
    replay = replay_and_run(
        operator,
        source,
        {"mode": "prompt", "prompt_artifact_id": revision.artifact.artifact_id, "content_hash": newer.content_hash},
    )
    step = replay.steps.get(node_id="draft")
    assert step.prompt_hash == newer.content_hash and step.input == {"prompt": "Be brief with Dana", "max_tokens": 1024}
    assert step.output != source.steps.get(node_id="draft").output
    assert replay.overrides == {
        "prompt": {"artifact_id": revision.artifact.artifact_id, "content_hash": newer.content_hash}
    }


def test_an_as_is_replay_of_a_prompt_replay_runs_with_that_prompt(acme, operator):
    """As-is: nothing changes but a new run. A replay re-executes the run as it ran, its own changes included."""
    version, revision = support_workflow(acme)
    newer = services.add_prompt_revision(artifact=revision.artifact, content="Be brief with {{ trigger.name }}")
    prompt = {"mode": "prompt", "prompt_artifact_id": revision.artifact.artifact_id, "content_hash": newer.content_hash}
    prompted = replay_and_run(operator, finished_run(version), prompt)
    again = replay_and_run(operator, prompted, {"mode": "as_is"})
    assert again.overrides == prompted.overrides and again.mode == "as_is"
    assert again.steps.get(node_id="draft").prompt_hash == newer.content_hash
    from replay.rules import membership_for_replay
    from replay.services import preview_replay

    plan = preview_replay(
        membership=membership_for_replay(operator, acme.pk), run_id=prompted.run_id, fields={"mode": "as_is"}
    ).plan
    assert "prompt changed" not in [node.reason for node in plan.nodes]


def test_a_model_replay_of_a_prompt_replay_keeps_the_prompt_and_changes_the_model(acme, operator):
    version, revision = support_workflow(acme)
    newer = services.add_prompt_revision(artifact=revision.artifact, content="Be brief with {{ trigger.name }}")
    prompt = {"mode": "prompt", "prompt_artifact_id": revision.artifact.artifact_id, "content_hash": newer.content_hash}
    prompted = replay_and_run(operator, finished_run(version), prompt)
    modelled = replay_and_run(operator, prompted, {"mode": "model", "model_id": "gpt-5", "model_ref": "openai:gpt-5"})
    draft = modelled.steps.get(node_id="draft")
    assert (draft.prompt_hash, draft.model_ref) == (newer.content_hash, "openai:gpt-5")


def test_a_replay_says_the_change_it_kept_from_its_source_where_its_choices_are_named(acme, operator, operator_client):
    """The trace, the lineage and the compare page word a replay's choices alike: a kept prompt is one of them, and
    the dialog of a replay says what a replay of it keeps."""
    version, revision = support_workflow(acme)
    newer = services.add_prompt_revision(artifact=revision.artifact, content="Be brief with {{ trigger.name }}")
    prompt = {"mode": "prompt", "prompt_artifact_id": revision.artifact.artifact_id, "content_hash": newer.content_hash}
    prompted = replay_and_run(operator, finished_run(version), prompt)
    modelled = replay_and_run(operator, prompted, {"mode": "model", "model_id": "gpt-5", "model_ref": "openai:gpt-5"})
    kept = f"kept prompt {revision.artifact.artifact_id} @ {newer.content_hash[:18]}…"
    assert modelled.replay_choices == [kept, "live tool calls"] and prompted.replay_choices == ["live tool calls"]
    trace = operator_client.get(f"/acme/ai/runs/{modelled.run_id}").content.decode()
    assert f"Replay with new model · {kept} · live tool calls" in trace
    dialog = operator_client.get(f"/acme/ai/runs/{prompted.run_id}/replay").content.decode()
    assert (
        f"This run ran with prompt <code>{revision.artifact.artifact_id} @ {newer.content_hash[:18]}…</code>: a"
        in dialog
    )


def test_new_model_replay_uses_the_model_on_every_llm_node(acme, operator):
    version, _ = support_workflow(acme)
    source = finished_run(version)
    replay = replay_and_run(operator, source, {"mode": "model", "model_id": "gpt-5", "model_ref": "openai:gpt-5"})
    assert set(replay.steps.filter(type="llm").values_list("model_ref", flat=True)) == {"openai:gpt-5"}
    assert "[simulated openai:gpt-5" in replay.steps.get(node_id="draft").output


def test_cross_version_replay_maps_renamed_nodes_and_dry_runs_through_the_mapping(acme, operator):
    version, revision = support_workflow(acme)
    source = finished_run(version)
    renaming_version(version)
    replay = replay_and_run(
        operator, source, {"mode": "as_is", "target_version": 2, "node_mapping": {"draft": "compose", "notify": "send"}}
    )
    assert replay.status == "completed" and replay.version_number == 2
    assert replay.node_mapping == {"draft": "compose", "notify": "send"}
    assert replay.steps.get(node_id="compose").mapped_from == "draft"
    call = ToolCall.objects.get(step__run=replay)
    assert call.dry_run and call.result == ToolCall.objects.get(step__run=source).result
    assert OutboxMessage.objects.count() == 1


def test_same_idempotency_key_returns_the_same_run_and_uses_no_quota(acme, operator, settings):
    settings.REPLAY_QUOTA_RATE = "1/m"
    version, _ = support_workflow(acme)
    source = finished_run(version)
    first = submit_replay(user=operator, run=source, request={"mode": "as_is"}, idempotency_key="k-1")
    again = submit_replay(user=operator, run=source, request={"mode": "as_is"}, idempotency_key="k-1")
    assert first.created and not again.created and first.run.pk == again.run.pk
    assert Run.objects.filter(replay_of=source).count() == 1


def test_a_retry_of_a_replay_made_before_replays_kept_their_sources_changes_answers_that_replay(acme, operator):
    """Such a replay stored its own request's change alone: the same key and request still name it."""
    version, _ = support_workflow(acme)
    modelled = replay_and_run(
        operator, finished_run(version), {"mode": "model", "model_id": "gpt-5", "model_ref": "openai:gpt-5"}
    )
    first = submit_replay(user=operator, run=modelled, request={"mode": "as_is"}, idempotency_key="k-old").run
    Run.objects.filter(pk=first.pk).update(overrides={})  # as it was stored before
    again = submit_replay(user=operator, run=modelled, request={"mode": "as_is"}, idempotency_key="k-old")
    assert not again.created and again.run.pk == first.pk


def test_replay_is_dispatched_to_the_broker_only_after_commit(acme, operator, django_capture_on_commit_callbacks):
    version, _ = support_workflow(acme)
    source = finished_run(version)
    purge_broker()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        replay = submit_replay(user=operator, run=source, request={"mode": "as_is"}).run
        assert dispatched_run_ids() == []  # nothing is sent before the commit
    assert len(callbacks) == 1 and dispatched_run_ids() == [replay.run_id]


def test_replay_command_runs_the_same_service(acme, operator, capsys):
    from django.core.management import CommandError, call_command

    version, _ = support_workflow(acme)
    source = finished_run(version)
    call_command("replay", source.run_id, "--model", "gpt-5", "openai:gpt-5", "--as", "operator")
    new_id = capsys.readouterr().out.strip()
    assert Run.objects.get(pk=new_id).overrides["model"]["model_ref"] == "openai:gpt-5"
    with pytest.raises(CommandError, match="403: This model is not available"):
        call_command("replay", source.run_id, "--model", "claude-2-1", "anthropic:claude-2-1", "--as", "operator")


def test_the_same_idempotency_key_with_a_different_request_is_409_and_creates_nothing(acme, operator):
    source = finished_run(support_workflow(acme)[0])
    submit_replay(user=operator, run=source, request={"mode": "as_is"}, idempotency_key="k-2")
    with pytest.raises(Rejected) as info:
        submit_replay(
            user=operator,
            run=source,
            idempotency_key="k-2",
            request={"mode": "model", "model_id": "gpt-5", "model_ref": "openai:gpt-5"},
        )
    assert info.value.status == 409
    assert info.value.message == (
        "This Idempotency-Key was already used for a different replay request of this run: "
        "use a new key for a new request."
    )
    assert Run.objects.filter(replay_of=source).count() == 1


def test_a_key_that_won_a_race_past_the_lookup_answers_with_its_run_and_leaves_nothing_behind(
    acme, operator, monkeypatch, django_capture_on_commit_callbacks
):
    import replay.services

    source = finished_run(support_workflow(acme)[0])
    first = submit_replay(user=operator, run=source, request={"mode": "as_is"}, idempotency_key="k-race").run
    # As if the other request committed between this one's lookup and its insert: the insert collides.
    monkeypatch.setattr(replay.services, "_earlier_replay", lambda *args: None)
    with django_capture_on_commit_callbacks() as callbacks:
        again = submit_replay(user=operator, run=source, request={"mode": "as_is"}, idempotency_key="k-race")
    assert not again.created and again.run.pk == first.pk
    assert Run.objects.filter(replay_of=source).count() == 1 and callbacks == []


def test_the_readme_command_line_names_every_option_of_the_replay_command():

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    synopsis = readme.split("Command line: `python manage.py replay ", 1)[1].split("`", 1)[0]
    parser = Command().create_parser("manage.py", "replay")
    own = {
        option
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--")
        and action.dest not in ("help", "version", "verbosity")
        and option not in ("--settings", "--pythonpath", "--traceback", "--no-color", "--force-color", "--skip-checks")
    }
    assert own == {word for word in synopsis.replace("[", " ").replace("]", " ").split() if word.startswith("--")}
