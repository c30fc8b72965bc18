"""The benchmark's own data, built through the services where they are the real path and in bulk where a
10,000-step history would otherwise take minutes to execute."""

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from runs import services
from runs.engine.executor import execute
from runs.models import (
    Account,
    ApiToken,
    Membership,
    PromptRevision,
    Role,
    Run,
    Step,
    ToolCall,
    Workflow,
    WorkflowVersion,
    Workspace,
)

MODEL = "anthropic:claude-opus-4-7"


@dataclass
class BenchData:
    workspace: Workspace
    user: object
    token: str
    revision: PromptRevision
    chain_source: Run  # a finished 10-step run: what the replays replay
    trace_1k: Run
    trace_10k: Run
    mapping_source: WorkflowVersion  # 1,000 nodes, all ran in trace_1k
    mapping_target: WorkflowVersion  # 1,000 nodes, every id renamed
    half_renamed_target: WorkflowVersion  # 1,000 nodes, 500 of them renamed
    compare_1k: Run  # a second recorded 1,000-step run of trace_1k's version, to compare with it
    rerun_source: Run  # an executed 1,000-step chain: every step reusable
    sends_source: Run  # an executed run of 10 messages.send calls: what dry-run and recorded replays answer with
    tools_source: Run  # an executed 10-step run: 5 LLM steps, 5 tool calls (read-only and mutating)


def llm(node_id, revision, after=()):
    return {
        "id": node_id,
        "type": "llm",
        "model": MODEL,
        "after": list(after),
        "prompt": {"artifact_id": revision.artifact.artifact_id, "content_hash": revision.content_hash},
    }


def chain(prefix, revision, length, tool_every=0):
    nodes = []
    for i in range(length):
        after = [f"{prefix}{i - 1}"] if i else []
        if tool_every and i % tool_every == tool_every - 1:
            nodes.append(
                {
                    "id": f"{prefix}{i}",
                    "type": "tool",
                    "tool": "records.lookup",
                    "args": {"key": "{{ trigger.name }}"},
                    "after": after,
                }
            )
        else:
            nodes.append(llm(f"{prefix}{i}", revision, after))
    return nodes


def tool_chain(prefix, revision, length, tools=("messages.send",)) -> list[dict]:
    """`length` nodes in a chain; with a revision, every other node is an LLM step. The tool nodes take `tools` in
    turn, each with rendered arguments (what a recorded call must match)."""
    nodes = []
    for i in range(length):
        after = [f"{prefix}{i - 1}"] if i else []
        if revision is not None and i % 2 == 0:
            nodes.append(llm(f"{prefix}{i}", revision, after))
            continue
        name = tools[(i // (2 if revision is not None else 1)) % len(tools)]
        args = (
            {"to": "{{ trigger.email }}", "body": f"Update {i}"}
            if name == "messages.send"
            else {"kind": "customer", "key": "{{ trigger.name }}"}
        )
        nodes.append({"id": f"{prefix}{i}", "type": "tool", "tool": name, "args": args, "after": after})
    return nodes


def recorded_run(version: WorkflowVersion, steps: int) -> Run:
    """A completed run with `steps` recorded steps (one tool call on every tool step), written in bulk."""
    start = timezone.now() - timedelta(hours=1)
    run = Run.objects.create(
        workspace_id=version.workflow.workspace_id,
        workflow=version.workflow,
        version=version,
        version_number=version.number,
        trigger_payload={"name": "Dana", "email": "dana@example.com"},
        status=Run.Status.COMPLETED,
        steps_total=steps,
        simulated=True,
        started_at=start,
        finished_at=start + timedelta(milliseconds=40 * steps),
    )
    nodes = list(version.nodes.order_by("position").values_list("node_id", "type"))
    rows = []
    for position, (node_id, node_type) in enumerate(nodes[:steps]):
        began = start + timedelta(milliseconds=40 * position)
        rows.append(
            Step(
                run=run,
                node_id=node_id,
                type=node_type,
                position=position,
                status=Step.Status.COMPLETED,
                input={"prompt": f"Step input for {node_id}: summarise the ticket from Dana."}
                if node_type == "llm"
                else {"key": "Dana"},
                output=("[simulated] " + "A plausible paragraph of model output. " * 8)
                if node_type == "llm"
                else '{"found": true, "record": {"name": "Dana"}}',
                model_ref=MODEL if node_type == "llm" else "",
                simulated=node_type == "llm",
                prompt_hash="sha256:" + "a" * 64 if node_type == "llm" else "",
                started_at=began,
                finished_at=began + timedelta(milliseconds=35),
            )
        )
    Step.objects.bulk_create(rows, batch_size=2000)
    tool_steps = Step.objects.filter(run=run, type="tool").values_list("pk", flat=True)
    ToolCall.objects.bulk_create(
        [
            ToolCall(
                step_id=pk, tool="records.lookup", mutating=False, arguments={"key": "Dana"}, result={"found": True}
            )
            for pk in tool_steps
        ],
        batch_size=2000,
    )
    return run


def executed_run(version: WorkflowVersion, steps: int) -> Run:
    """A run of `version` executed in process, as the simulator answers it: every step reusable."""
    run = Run.objects.create(
        workspace_id=version.workflow.workspace_id,
        workflow=version.workflow,
        version=version,
        version_number=version.number,
        trigger_payload={"name": "Dana", "email": "dana@example.com"},
        steps_total=steps,
    )
    execute(run.run_id)
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED, f"{run.run_id} {run.status}: {run.error}"  # what replays replay
    return run


def build() -> BenchData:
    account = Account.objects.create(name="Bench")
    workspace = Workspace.objects.create(account=account, slug="bench", name="Bench")
    user = get_user_model().objects.create_user("bench-operator", password="bench-password-1")
    Membership.objects.create(user=user, workspace=workspace, role=Role.OPERATOR)
    _, token = ApiToken.issue(user, name="bench")
    revision = services.create_prompt(workspace=workspace, name="bench", content="Summarise: {{ trigger.name }}")

    chain_source = executed_run(
        services.create_workflow(workspace=workspace, name="Chain 10", nodes=chain("n", revision, 10)), 10
    )

    big = services.create_workflow(
        workspace=workspace, name="Big 10k", nodes=chain("s", revision, 10_000, tool_every=10)
    )
    trace_10k = recorded_run(big, 10_000)
    thousand = services.create_workflow(
        workspace=workspace, name="Big 1k", nodes=chain("a", revision, 1000, tool_every=10)
    )
    trace_1k = recorded_run(thousand, 1000)
    workflow: Workflow = thousand.workflow
    renamed_all = services.add_version(workflow=workflow, nodes=chain("b", revision, 1000, tool_every=10))
    half = chain("a", revision, 500, tool_every=10) + [
        llm(f"c{i}", revision, ["a499" if i == 500 else f"c{i - 1}"]) for i in range(500, 1000)
    ]
    half_renamed = services.add_version(workflow=workflow, nodes=half)
    compare_1k = recorded_run(thousand, 1000)
    rerun_source = executed_run(
        services.create_workflow(workspace=workspace, name="Rerun 1k", nodes=chain("r", revision, 1000)), 1000
    )
    sends_source = executed_run(
        services.create_workflow(workspace=workspace, name="Sends 10", nodes=tool_chain("m", None, 10)), 10
    )
    tools_source = executed_run(
        services.create_workflow(
            workspace=workspace,
            name="Tools 10",
            nodes=tool_chain("t", revision, 10, tools=("records.lookup", "messages.send")),
        ),
        10,
    )
    return BenchData(
        workspace,
        user,
        token,
        revision,
        chain_source,
        trace_1k,
        trace_10k,
        thousand,
        renamed_all,
        half_renamed,
        compare_1k,
        rerun_source,
        sends_source,
        tools_source,
    )
