"""The executor in-process: ordering, templates, failures, dry-run, continuation. No worker needed."""

import pytest

from runs import services
from runs.engine.executor import INTERRUPTED, execute
from runs.models import OutboxMessage, Record, Run, Step, ToolCall

from .builders import PAYLOAD, chain_workflow, finished_run, llm, new_run, support_workflow, tool
from .factories import PromptRevisionFactory


def test_ten_step_run_executes_every_node_in_dependency_order(acme):
    version, _ = chain_workflow(acme, 10)
    run = finished_run(version)
    assert run.status == "completed" and run.started_at and run.finished_at
    assert list(run.steps.order_by("position").values_list("node_id", flat=True)) == [f"n{i}" for i in range(10)]
    assert set(run.steps.values_list("status", flat=True)) == {"completed"}


def test_llm_step_records_model_ref_prompt_hash_and_simulated(acme):
    version, revision = support_workflow(acme)
    run = finished_run(version)
    step = run.steps.get(node_id="draft")
    assert step.model_ref == "anthropic:claude-opus-4-7" and step.prompt_hash == revision.content_hash
    assert step.simulated and run.simulated
    assert step.input == {"prompt": "Reply to Dana", "max_tokens": 1024}


def test_simulator_is_deterministic_and_differs_by_model(acme):
    from runs.engine.providers import simulate

    assert simulate("anthropic:claude-opus-4-7", "hi") == simulate("anthropic:claude-opus-4-7", "hi")
    assert simulate("anthropic:claude-opus-4-7", "hi") != simulate("openai:gpt-5", "hi")
    assert simulate("openai:gpt-5", "hi") != simulate("openai:gpt-5", "hello")


def test_tool_arguments_read_trigger_and_node_outputs(acme):
    version, _ = support_workflow(acme)
    run = finished_run(version)
    call = ToolCall.objects.get(step__run=run)
    assert call.arguments["to"] == "dana@example.com"
    assert call.arguments["body"] == run.steps.get(node_id="draft").output
    message = OutboxMessage.objects.get(run=run)
    assert message.to == "dana@example.com" and message.node_id == "notify"


def test_missing_template_key_fails_the_step_with_a_clear_error(acme):
    version, _ = support_workflow(acme)
    run = finished_run(version, payload={"name": "Dana"})
    assert run.status == "failed"
    assert run.error == "Node notify failed: missing key 'trigger.email' in template '{{ trigger.email }}'"
    assert run.steps.get(node_id="notify").status == "failed"
    assert not OutboxMessage.objects.exists()


def test_nodes_after_a_failing_node_stay_unrecorded(acme):
    revision = PromptRevisionFactory(artifact__workspace=acme)
    version = services.create_workflow(
        workspace=acme,
        name="w",
        nodes=[
            tool("lookup", "records.lookup", {"kind": "customer"}),
            llm("after", revision, after=["lookup"]),
        ],
    )
    run = finished_run(version)
    assert run.status == "failed" and "missing argument 'key'" in run.error
    assert not run.steps.filter(node_id="after").exists()


def test_records_create_writes_one_row_per_run_and_node(acme):
    version = services.create_workflow(
        workspace=acme,
        name="w",
        nodes=[
            tool("save", "records.create", {"kind": "ticket", "data": {"key": "T-1", "who": "{{ trigger.name }}"}}),
        ],
    )
    run = finished_run(version)
    assert Record.objects.get(kind="ticket").data == {"key": "T-1", "who": "Dana"}
    assert run.status == "completed"


def test_a_second_delivery_of_a_finished_run_does_nothing(acme):
    version, _ = support_workflow(acme)
    run = finished_run(version)
    before = list(Step.objects.filter(run=run).values_list("pk", "finished_at"))
    execute(run.run_id)
    assert list(Step.objects.filter(run=run).values_list("pk", "finished_at")) == before
    assert OutboxMessage.objects.count() == 1


def test_half_done_run_continues_after_its_last_completed_step(acme, settings):
    settings.RUN_STALE_AFTER = 0
    version, _ = chain_workflow(acme, 4)
    run = finished_run(version)
    Step.objects.filter(run=run, position__gte=2).delete()
    first_two = list(Step.objects.filter(run=run).values_list("pk", "finished_at"))
    Run.objects.filter(pk=run.pk).update(status="running", finished_at=None, lease="dead-worker")
    execute(run.run_id)
    run.refresh_from_db()
    assert run.status == "completed"
    assert list(Step.objects.filter(run=run, position__lt=2).values_list("pk", "finished_at")) == first_two
    assert run.steps.count() == 4


def test_interrupted_mutating_step_is_failed_not_retried(acme, settings):
    settings.RUN_STALE_AFTER = 0
    version, _ = support_workflow(acme)
    run = finished_run(version, payload=PAYLOAD)
    OutboxMessage.objects.all().delete()
    step = run.steps.get(node_id="notify")
    ToolCall.objects.filter(step=step).delete()
    Step.objects.filter(pk=step.pk).update(status="running", finished_at=None)
    Run.objects.filter(pk=run.pk).update(status="running", finished_at=None, lease="dead-worker")
    execute(run.run_id)
    run.refresh_from_db()
    step.refresh_from_db()
    assert step.status == "failed" and step.error == INTERRUPTED
    assert run.status == "failed" and run.error == f"Node notify failed: {INTERRUPTED}"
    assert not OutboxMessage.objects.exists()


def test_interrupted_llm_step_is_simply_run_again(acme, settings):
    settings.RUN_STALE_AFTER = 0
    version, _ = support_workflow(acme)
    run = new_run(version, status="running", lease="dead-worker")
    Step.objects.create(run=run, node_id="draft", type="llm", position=0, status="running")
    execute(run.run_id)
    run.refresh_from_db()
    assert run.status == "completed" and run.steps.get(node_id="draft").status == "completed"


def test_a_run_held_by_a_live_worker_is_not_claimed_twice(acme):
    version, _ = support_workflow(acme)
    run = new_run(version, status="running", lease="alive")
    from django.utils import timezone

    Run.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
    execute(run.run_id)
    assert not run.steps.exists()


def test_pause_takes_effect_between_steps_and_resume_continues(acme):
    version, _ = chain_workflow(acme, 3)
    run = new_run(version)
    services.pause_run(run=run)
    execute(run.run_id)  # a delivery of a paused run does nothing
    assert Run.objects.get(pk=run.pk).status == "paused" and not run.steps.exists()
    services.resume_run(run=run)
    execute(run.run_id)
    run.refresh_from_db()
    assert run.status == "completed" and run.steps.count() == 3


def test_cancelling_a_pending_run_is_immediate(acme):
    version, _ = chain_workflow(acme, 2)
    run = new_run(version)
    services.cancel_run(run=run)
    run.refresh_from_db()
    assert run.status == "cancelled" and run.finished_at is not None
    execute(run.run_id)
    assert not run.steps.exists()


@pytest.mark.parametrize("action,status", [("pause", "completed"), ("resume", "running"), ("cancel", "failed")])
def test_illegal_transitions_are_409_with_a_clear_message(acme, action, status):
    from runs.http.errors import Rejected

    version, _ = chain_workflow(acme, 1)
    run = new_run(version, status=status)
    with pytest.raises(Rejected) as info:
        getattr(services, f"{action}_run")(run=run)
    assert info.value.status == 409 and f"Cannot {action} a {status} run" in info.value.message
    assert Run.objects.get(pk=run.pk).status == status


def test_run_whose_version_was_deleted_before_it_ran_fails_clearly(acme):
    version, _ = chain_workflow(acme, 1)
    run = new_run(version)
    version.delete()
    execute(run.run_id)
    run.refresh_from_db()
    assert run.status == "failed" and "deleted" in run.error


def test_a_tool_that_raises_fails_its_step_with_its_message(acme, tools_reach_local_server):
    version = services.create_workflow(
        workspace=acme,
        name="w",
        nodes=[
            tool("fetch", "http.get", {"url": "http://127.0.0.1:1/nothing-listens-here"}),
        ],
    )
    run = finished_run(version)
    assert run.status == "failed" and "http.get failed" in run.error
    assert run.steps.get().input == {"arguments": {"url": "http://127.0.0.1:1/nothing-listens-here"}}
