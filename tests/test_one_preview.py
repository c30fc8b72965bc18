"""One preview feeds every surface: the banner, the dialog's plan, both plan endpoints, the command and submit."""

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replay.rules import CONFIRM_INVOKE, membership_for_replay
from replay.services import preview_replay
from runs import services
from runs.engine.executor import execute
from runs.models import OutboxMessage, Run, ToolCall

from .builders import finished_run, llm, renaming_version, support_workflow, tool
from .factories import PromptRevisionFactory

RED = "this replay WILL invoke mutating tool calls."
BLUE = "Mutating tool calls will dry-run."


def draft_notify_log(workspace):
    """draft → notify (messages.send, allowMutations: true) → log: the issue's own example."""
    revision = PromptRevisionFactory(artifact__workspace=workspace, content="Reply to {{ trigger.name }}")
    return services.create_workflow(
        workspace=workspace,
        name="Notify and log",
        nodes=[
            llm("draft", revision),
            tool(
                "notify", "messages.send", {"to": "x@example.com", "body": "{{ nodes.draft.output }}"}, ["draft"], True
            ),
            tool("log", "records.lookup", {"kind": "log", "key": "{{ trigger.name }}"}, ["notify"]),
        ],
    )


def dialog(client, run, query=""):
    return client.get(f"/acme/ai/runs/{run.run_id}/replay{query}").content.decode()


def plan_panel(client, run, **form):
    return client.post(f"/acme/ai/runs/{run.run_id}/replay/plan", {"mode": "as_is", **form}).content.decode()


def test_a_rerun_that_reuses_the_mutating_node_shows_the_blue_banner(acme, operator_client):
    source = finished_run(draft_notify_log(acme))
    page = dialog(operator_client, source, "?from_node=log")
    assert BLUE in page and RED not in page


def test_a_full_replay_of_the_same_run_shows_the_red_banner_naming_the_node(acme, operator_client):
    source = finished_run(draft_notify_log(acme))
    page = dialog(operator_client, source)
    assert RED in page and "<code>notify</code> (messages.send, node policy)" in page


def test_the_plan_panel_carries_the_banner_for_the_start_node_chosen(acme, operator_client):
    source = finished_run(draft_notify_log(acme))
    assert RED in plan_panel(operator_client, source, from_node="draft")
    reused = plan_panel(operator_client, source, from_node="log")
    assert 'id="mutation-banner" hx-swap-oob="true"' in reused and BLUE in reused and RED not in reused


def test_the_dialog_plans_the_version_its_url_names(acme, operator_client):
    version, _ = support_workflow(acme)
    source = finished_run(version)
    renaming_version(version)
    page = dialog(operator_client, source, "?target_version=2")
    plan = page[page.index('id="plan-panel"') :]
    assert "<code>compose</code>" in plan and "<code>draft</code>" not in plan.split("Dropped")[0]
    start = page[page.index('id="start-from"') : page.index('id="plan-panel"')]
    assert ">compose (the first node" in start and ">draft" not in start


def test_api_submit_of_an_invoking_replay_without_confirmation_is_409_and_creates_nothing(api, acme):
    source = finished_run(support_workflow(acme, allow_send=True)[0])
    before = Run.objects.count()
    response = api.post(
        f"/api/v1/acme/runs/{source.run_id}/replays", {"mode": "as_is"}, content_type="application/json"
    )
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "confirm_invoke",
        "message": CONFIRM_INVOKE,
        "field": "confirm_invoke",
        "nodes": ["notify"],
    }
    assert Run.objects.count() == before


def test_api_submit_with_confirmation_invokes(api, acme):
    source = finished_run(support_workflow(acme, allow_send=True)[0])
    body = {"mode": "as_is", "confirm_invoke": True}
    response = api.post(f"/api/v1/acme/runs/{source.run_id}/replays", body, content_type="application/json")
    assert response.status_code == 201


def test_a_dry_run_replay_needs_no_confirmation(api, acme):
    source = finished_run(support_workflow(acme)[0])
    response = api.post(
        f"/api/v1/acme/runs/{source.run_id}/replays", {"mode": "as_is"}, content_type="application/json"
    )
    assert response.status_code == 201


def test_the_dialog_submit_without_the_checkbox_is_409(acme, operator_client):
    source = finished_run(support_workflow(acme, allow_send=True)[0])
    response = operator_client.post(f"/acme/ai/runs/{source.run_id}/replay", {"mode": "as_is"})
    assert response.status_code == 409 and CONFIRM_INVOKE in response.content.decode()
    ticked = operator_client.post(f"/acme/ai/runs/{source.run_id}/replay", {"mode": "as_is", "confirm_invoke": "1"})
    assert ticked.status_code == 302


def test_the_preflight_plan_says_a_confirmation_is_required(api, acme):
    source = finished_run(support_workflow(acme, allow_send=True)[0])
    body = api.post(
        f"/api/v1/acme/runs/{source.run_id}/replay-plan", {"mode": "as_is"}, content_type="application/json"
    ).json()
    assert body["replayable"] is True and body["confirmation_required"] is True
    assert body["mutations"] == "invoke" and body["invoking_nodes"] == ["notify"]


def test_the_command_refuses_an_invoking_replay_without_its_flag(acme, operator):
    source = finished_run(support_workflow(acme, allow_send=True)[0])
    with pytest.raises(CommandError, match="409: " + CONFIRM_INVOKE):
        call_command("replay", source.run_id, "--as", "operator")
    call_command("replay", source.run_id, "--as", "operator", "--confirm-invoke")


workflow_shapes = st.integers(min_value=3, max_value=8).flatmap(
    lambda size: st.tuples(
        st.just(size),
        # for each node after the first: its kind (llm, read-only tool, mutating tool) and its node policy
        st.lists(
            st.tuples(st.sampled_from(["llm", "lookup", "send"]), st.sampled_from([None, True, False])),
            min_size=size - 1,
            max_size=size - 1,
        ),
        st.booleans(),  # the workspace policy
        st.integers(min_value=0, max_value=size - 1),  # the start node, 0 meaning none
    )
)


def _workflow_of(workspace, kinds):
    revision = PromptRevisionFactory(artifact__workspace=workspace, content="Reply to {{ trigger.name }}")
    nodes = [llm("n0", revision)]
    for i, (kind, policy) in enumerate(kinds, start=1):
        after = [f"n{i - 1}"]
        if kind == "llm":
            nodes.append(llm(f"n{i}", revision, after))
        elif kind == "lookup":
            nodes.append(tool(f"n{i}", "records.lookup", {"kind": "k", "key": "{{ trigger.name }}"}, after))
        else:
            args = {"to": "x@example.com", "body": f"{{{{ nodes.n{i - 1}.output }}}}"}
            nodes.append(tool(f"n{i}", "messages.send", args, after, policy))
    return services.create_workflow(workspace=workspace, name="Drawn", nodes=nodes)


@pytest.mark.django_db
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=workflow_shapes)
def test_banner_plan_and_execution_invoke_the_same_nodes(acme, operator, operator_client, shape):
    _, kinds, workspace_allows, start = shape
    cache.clear()  # the replay quota counts every example's submit
    acme.replay_allow_mutations = workspace_allows
    acme.save()
    source = finished_run(_workflow_of(acme, kinds))
    membership = membership_for_replay(operator, acme.pk)
    from_node = f"n{start}" if start else ""
    fields = {"mode": "as_is", "from_nodes": [from_node] if from_node else None, "confirm_invoke": True}
    preview = preview_replay(membership=membership, run_id=source.run_id, fields=fields)
    planned = {n.node_id for n in preview.plan.nodes if n.mutating and n.disposition == "invoke"}
    assert {n.node_id for n in preview.invoking} == planned
    page = plan_panel(operator_client, source, from_node=from_node)
    banner = page[page.index('id="mutation-banner"') : page.index("</div>", page.index('id="mutation-banner"') + 40)]
    assert {node for node in planned if f"<code>{node}</code>" in banner} == planned and (RED in page) == bool(planned)
    sent_before = OutboxMessage.objects.count()
    from replay.services import submit_replay

    replay = submit_replay(membership=membership, run_id=source.run_id, fields=fields).run
    execute(replay.run_id)
    invoked = set(
        ToolCall.objects.filter(step__run=replay, mutating=True, dry_run=False, reused=False).values_list(
            "step__node_id", flat=True
        )
    )
    assert invoked == planned and OutboxMessage.objects.count() - sent_before == len(planned)
