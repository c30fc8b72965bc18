"""Rerun from a step: what is reused and what runs, the plan as a contract, and the peers' bugs that must not happen."""

import itertools
import json

import pytest
from django.db import connection

from runs import services
from runs.models import Run, Step, ToolCall

from .builders import chain_workflow, executed_replay, finished_run, llm, submit_replay, support_workflow, tool
from .factories import PromptRevisionFactory

pytestmark = pytest.mark.usefixtures("run_max_parallel")


def steps_of(run: Run) -> dict[str, Step]:
    return {s.node_id: s for s in run.steps.prefetch_related("tool_calls")}


def test_a_rerun_from_a_node_reuses_what_comes_before_and_runs_it_and_what_follows(acme, operator):
    source = finished_run(chain_workflow(acme, length=4)[0])
    rerun = executed_replay(user=operator, run=source, request={"mode": "as_is", "from_nodes": ["n2"]})
    steps = steps_of(rerun)
    assert rerun.status == "completed" and len(steps) == 4
    assert [steps[n].reused_from_run_id for n in ("n0", "n1")] == [source.run_id, source.run_id]
    assert [steps[n].reused_from_run_id for n in ("n2", "n3")] == ["", ""]
    assert steps["n0"].output == source.steps.get(node_id="n0").output and steps["n0"].cost_usd == 0


def test_a_sibling_branch_that_started_later_is_reused(acme, operator):
    revision = PromptRevisionFactory(artifact__workspace=acme, content="{{ trigger.name }}")
    version = services.create_workflow(
        workspace=acme,
        name="Fork",
        nodes=[llm("root", revision), llm("left", revision, after=["root"]), llm("right", revision, after=["root"])],
    )
    source = finished_run(version)
    rerun = executed_replay(user=operator, run=source, request={"mode": "as_is", "from_nodes": ["left"]})
    steps = steps_of(rerun)
    assert steps["right"].reused_from_node_id == "right" and steps["left"].reused_from_run_id == ""


def test_a_failed_step_before_the_start_node_is_run_again_never_reused(acme, operator):
    revision = PromptRevisionFactory(artifact__workspace=acme, content="{{ trigger.name }}")
    version = services.create_workflow(
        workspace=acme,
        name="Failing",
        nodes=[tool("fetch", "http.get", {"url": "http://127.0.0.1:9/"}), llm("after", revision, after=["fetch"])],
    )
    source = finished_run(version)
    assert source.status == "failed"
    rerun = submit_replay(user=operator, run=source, request={"mode": "as_is", "from_nodes": ["after"]}).run
    assert rerun.replay_plan["nodes"]["fetch"]["action"] == "run"


def test_a_rerun_parent_feeds_its_child_its_new_output(acme, operator):
    source = finished_run(chain_workflow(acme, length=3)[0])
    rerun = executed_replay(
        user=operator,
        run=source,
        request={"mode": "model", "model_id": "gpt-5", "model_ref": "openai:gpt-5", "from_nodes": ["n1"]},
    )
    steps = steps_of(rerun)
    assert steps["n1"].output != source.steps.get(node_id="n1").output
    assert steps["n2"].reused_from_run_id == "" and steps["n2"].model_ref == "openai:gpt-5"


def test_a_rerun_of_a_rerun_points_reused_from_at_the_original_producer(acme, operator):
    source = finished_run(chain_workflow(acme, length=3)[0])
    first = executed_replay(user=operator, run=source, request={"mode": "as_is", "from_nodes": ["n2"]})
    second = executed_replay(user=operator, run=first, request={"mode": "as_is", "from_nodes": ["n2"]})
    n0 = steps_of(second)["n0"]
    assert (n0.reused_from_run_id, n0.reused_from_node_id) == (source.run_id, "n0")


def test_a_reused_mutating_call_is_not_sent_again(acme, operator):
    from runs.models import OutboxMessage

    version, _ = support_workflow(acme, allow_send=True)
    source = finished_run(version)
    sent = OutboxMessage.objects.count()
    request = {"mode": "as_is", "from_nodes": ["draft"], "confirm_invoke": True}
    rerun = executed_replay(user=operator, run=source, request=request)
    # draft runs again, and notify is downstream of it: the plan says invoke (node policy), and it is
    assert steps_of(rerun)["notify"].tool_calls.get().dry_run is False and OutboxMessage.objects.count() == sent + 1
    again = executed_replay(
        user=operator, run=source, request={"mode": "as_is", "from_nodes": [], "confirm_invoke": True}
    )
    assert again.replay_plan["from_nodes"] is None  # an empty list is a full replay


def test_a_start_node_outside_the_target_version_is_422_naming_it(acme, operator):
    from runs.http.errors import Rejected

    source = finished_run(support_workflow(acme)[0])
    with pytest.raises(Rejected) as info:
        submit_replay(user=operator, run=source, request={"mode": "as_is", "from_nodes": ["ghost"]})
    assert info.value.status == 422 and "'ghost'" in info.value.message and info.value.field == "from_nodes"


def test_a_stale_plan_version_is_409(acme, operator):
    from runs.http.errors import Rejected

    source = finished_run(support_workflow(acme)[0])
    with pytest.raises(Rejected) as info:
        submit_replay(user=operator, run=source, request={"mode": "as_is", "plan_version": "plan_" + "0" * 16})
    assert info.value.status == 409
    assert info.value.message == "The replay plan changed since it was shown; review it again."


def test_a_worker_killed_mid_copy_leaves_no_half_copied_run(acme, operator):
    from django.db import connection

    from runs.engine.executor import execute

    source = finished_run(support_workflow(acme)[0])
    rerun = submit_replay(user=operator, run=source, request={"mode": "as_is", "from_nodes": ["notify"]}).run
    copying_calls = f"INSERT INTO {connection.ops.quote_name(ToolCall._meta.db_table)}"
    steps_copied = []

    def killed_before_the_tool_calls(execute_sql, sql, params, many, context):
        if sql.startswith(copying_calls):
            steps_copied.append(Step.objects.filter(run=rerun).count())
            raise SystemExit("worker killed")
        return execute_sql(sql, params, many, context)

    with connection.execute_wrapper(killed_before_the_tool_calls), pytest.raises(SystemExit):
        execute(rerun.run_id)
    assert steps_copied == [1] and not rerun.steps.exists()


def test_a_rerun_whose_source_steps_are_gone_fails_clearly_and_copies_nothing(acme, operator):
    from runs.engine.executor import execute
    from runs.engine.reuse import REUSED_STEPS_GONE

    source = finished_run(support_workflow(acme)[0])
    rerun = submit_replay(user=operator, run=source, request={"mode": "as_is", "from_nodes": ["notify"]}).run
    source.steps.all().delete()
    execute(rerun.run_id)
    rerun.refresh_from_db()
    assert rerun.status == Run.Status.FAILED and rerun.error == REUSED_STEPS_GONE and not rerun.steps.exists()


@pytest.mark.parametrize(
    "node_policy,workspace_policy,mode",
    list(itertools.product([True, False, None], [True, False], ["as_is", "prompt", "model"])),
)
def test_the_plan_is_what_runs(acme, operator, node_policy, workspace_policy, mode):
    acme.replay_allow_mutations = workspace_policy
    acme.save()
    version, revision = support_workflow(acme, allow_send=node_policy)
    source = finished_run(version)
    fields: dict = {"mode": mode, "confirm_invoke": True}
    if mode == "prompt":
        new = services.add_prompt_revision(artifact=revision.artifact, content="Dear {{ trigger.name }}")
        fields |= {"prompt_artifact_id": revision.artifact.artifact_id, "content_hash": new.content_hash}
    if mode == "model":
        fields |= {"model_id": "gpt-5", "model_ref": "openai:gpt-5"}
    for from_nodes in (None, ["notify"]):
        rerun = executed_replay(user=operator, run=source, request=fields | {"from_nodes": from_nodes})
        planned = rerun.replay_plan["nodes"]
        for node_id, step in steps_of(rerun).items():
            assert (planned[node_id]["action"] == "reuse") == bool(step.reused_from_run_id), node_id
            for call in step.tool_calls.all():
                disposition = planned[node_id]["disposition"]
                assert call.reused == (disposition == "reused") and call.dry_run == (disposition == "dry_run"), node_id
                assert call.source == {"invoke": "live"}.get(disposition, disposition), node_id


def post_plan(api, run, body):
    return api.post(f"/api/v1/acme/runs/{run.run_id}/replay-plan", body, content_type="application/json")


def test_the_preflight_plan_names_each_nodes_action_reason_and_call(api, acme):
    source = finished_run(support_workflow(acme)[0])
    body = post_plan(api, source, {"mode": "as_is", "from_nodes": ["notify"]}).json()
    assert body["replayable"] is True and body["refusal"] is None and body["plan_version"].startswith("plan_")
    draft, notify = body["nodes"]
    assert (draft["node_id"], draft["action"], draft["estimated_cost_usd"]) == ("draft", "reuse", ["0", "0"])
    assert notify["action"] == "run" and notify["reason"] == "start node"
    assert notify["call"] == {"tool": "messages.send", "mutating": True, "disposition": "dry_run", "policy": "default"}
    assert body["totals"] | {"estimated_cost_usd": None} == {
        "runs": 1,
        "reuses": 1,
        "drops": 0,
        "invokes": 0,
        "dry_runs": 1,
        "recorded": 0,
        "estimated_cost_usd": None,
    }


def test_the_preflight_plan_has_no_side_effect_and_takes_no_quota(api, acme, settings):
    settings.REPLAY_QUOTA_RATE = "1/m"
    source = finished_run(support_workflow(acme)[0])
    runs = Run.objects.count()
    for _ in range(3):
        assert post_plan(api, source, {"mode": "as_is"}).json()["replayable"] is True
    assert Run.objects.count() == runs
    submitted = api.post(
        f"/api/v1/acme/runs/{source.run_id}/replays", {"mode": "as_is"}, content_type="application/json"
    )
    assert submitted.status_code == 201


def test_the_preflight_refusal_is_what_submit_would_answer(api, acme):
    from .builders import run_in_status

    running = run_in_status(support_workflow(acme)[0], "running")
    body = post_plan(api, running, {"mode": "as_is"}).json()
    assert body["replayable"] is False
    assert body["refusal"] == {
        "status": 409,
        "code": "in_flight",
        "message": "Cannot replay an in-flight run",
        "field": None,
    }


def test_a_submit_with_the_plan_version_shown_is_accepted(api, acme):
    source = finished_run(support_workflow(acme)[0])
    version = post_plan(api, source, {"mode": "as_is", "from_nodes": ["notify"]}).json()["plan_version"]
    response = api.post(
        f"/api/v1/acme/runs/{source.run_id}/replays",
        {"mode": "as_is", "from_nodes": ["notify"], "plan_version": version},
        content_type="application/json",
    )
    assert response.status_code == 201


def test_the_api_step_names_what_it_was_reused_from(api, acme, operator):
    source = finished_run(support_workflow(acme)[0])
    rerun = executed_replay(user=operator, run=source, request={"mode": "as_is", "from_nodes": ["notify"]})
    steps = api.get(f"/api/v1/acme/runs/{rerun.run_id}").json()["steps"]
    assert steps[0]["reused_from"] == {"run_id": source.run_id, "node_id": "draft"}
    assert steps[1]["reused_from"] is None and steps[1]["tool_calls"][0]["reused"] is False


def test_the_command_reruns_from_a_node_and_prints_the_plan_without_submitting(acme, operator, capsys):
    from django.core.management import call_command

    source = finished_run(support_workflow(acme)[0])
    runs = Run.objects.count()
    call_command("replay", source.run_id, "--from", "notify", "--plan", "--as", "operator")
    out = capsys.readouterr().out
    assert "draft" in out and "reuse" in out and "notify" in out and Run.objects.count() == runs
    call_command("replay", source.run_id, "--from", "notify", "--as", "operator")
    new = Run.objects.get(pk=capsys.readouterr().out.strip())
    assert new.replay_plan["from_nodes"] == ["notify"]


def test_the_preflight_refuses_as_the_next_submit_would_once_the_quota_is_spent(api, acme, settings):
    settings.REPLAY_QUOTA_RATE = "1/m"
    source = finished_run(support_workflow(acme)[0])
    api.post(f"/api/v1/acme/runs/{source.run_id}/replays", {"mode": "as_is"}, content_type="application/json")
    body = post_plan(api, source, {"mode": "as_is"}).json()
    assert body["refusal"] == {
        "status": 429,
        "code": "quota_exceeded",
        "message": "Replay quota exceeded",
        "field": None,
    }


def test_a_rerun_on_a_renamed_version_copies_the_renamed_steps_and_their_tool_calls(acme, operator):
    revision = PromptRevisionFactory(artifact__workspace=acme, content="Follow up with {{ trigger.name }}")
    send_args = {"to": "{{ trigger.email }}", "body": "hello"}

    def version_of(tool_id, llm_id, workflow=None):
        nodes = [tool(tool_id, "messages.send", send_args), llm(llm_id, revision, after=[tool_id])]
        if workflow is None:
            return services.create_workflow(workspace=acme, name="Notify first", nodes=nodes)
        return services.add_version(workflow=workflow, nodes=nodes)

    v1 = version_of("send", "draft")
    source = finished_run(v1)
    version_of("notify", "compose", workflow=v1.workflow)
    rerun = executed_replay(
        user=operator,
        run=source,
        request={
            "mode": "as_is",
            "target_version": 2,
            "node_mapping": {"send": "notify", "draft": "compose"},
            "from_nodes": ["compose"],
        },
    )
    steps = steps_of(rerun)
    notify = steps["notify"]
    assert (notify.mapped_from, notify.reused_from_run_id, notify.reused_from_node_id) == ("send", source.pk, "send")
    assert [(c.tool, c.reused, c.dry_run, c.source) for c in notify.tool_calls.all()] == [
        ("messages.send", True, False, "reused")
    ]
    assert steps["compose"].reused_from_run_id == "" and steps["compose"].mapped_from == "draft"


@pytest.mark.parametrize(
    "fresh,recorded,same",
    [
        ({"prompt": "Hi Dana"}, {"prompt": "Hi Dana"}, True),
        ({"prompt": "Hi Dana"}, {"prompt": "Hi Ana"}, False),
        ({"arguments": {"n": 1}}, {"arguments": {"n": 1}}, True),
        ({"arguments": {"n": 1}}, {"arguments": {"n": 1.0}}, False),
        ({"arguments": {"n": 1}}, {"arguments": {"n": True}}, False),
        ({"arguments": [None]}, {"arguments": [None, None]}, False),
    ],
)
def test_an_input_is_the_same_only_when_its_json_is(fresh, recorded, same):
    from runs.engine.reusability import same_input

    assert same_input(fresh, recorded) is same


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's planner; PostgreSQL hash-joins the nodes")
def test_the_copy_reads_the_reused_nodes_once_and_looks_each_source_step_up_by_its_unique_index(db):
    """The embedded default's rerun was quadratic: the JSON array of reused nodes scanned once per source step."""
    from runs.engine.reuse import _copy_statements

    steps_sql, _ = _copy_statements(connection.vendor)
    rows = json.dumps([{"src": "n0", "dst": "n0", "pos": 0, "prun": "run_x", "pnode": "n0"}])
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {steps_sql}", ("run_a", "2026-01-01", "2026-01-01", rows, "run_b"))
        plan = [row[3] for row in cursor.fetchall()]
    assert plan[0].startswith("SCAN json_each"), plan
    assert plan[1].startswith("SEARCH s USING INDEX") and plan[1].endswith("(run_id=? AND node_id=?)"), plan
