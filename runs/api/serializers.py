from collections.abc import Iterable

from runs.access import member_run
from runs.http.api import iso
from runs.models import Membership, Run, Step, ToolCall
from runs.provenance import call_label_text
from runs.run_detail import RunDetail, read_run, read_steps
from runs.usage import RunUsage, step_usage_api, usage_of_run


def run_with_steps(membership: Membership, run_id: str) -> RunDetail:
    """The run with its usage, steps and their tool calls, access-checked before its steps are read: a run is polled
    for its status, so its detail is read in two prepared statements (runs.run_detail); the workspace is the
    membership's, so it is not read."""
    detail = read_run(run_id)
    member_run(membership, run_id, detail.run if detail else None)
    assert detail is not None  # member_run raised the 404
    read_steps(detail)
    return detail


def detail_dict(detail: RunDetail) -> dict:
    """A run's detail as the API shows it."""
    steps = [step_dict(step, calls) for step, calls in detail.steps]
    return run_dict(detail.run, steps=steps, usage=detail.usage)


def step_dict(step: Step, calls: Iterable[ToolCall] | None = None) -> dict:
    """A step as the API shows it; `calls`, when the caller read the tool calls of many steps at once.

    `step` and `calls` may be rows of the same columns (values_list(named=True)), as an export reads them.
    """
    return {
        "node_id": step.node_id,
        "type": step.type,
        "status": step.status,
        "input": step.input,
        "output": step.output,
        "model_ref": step.model_ref or None,
        "prompt_hash": step.prompt_hash or None,
        "prompt_artifact_id": step.prompt_artifact_id or None,
        "simulated": step.simulated,
        "mapped_from": step.mapped_from or None,
        "started_at": iso(step.started_at),
        "finished_at": iso(step.finished_at),
        "error": step.error or None,
        "reused_from": {"run_id": step.reused_from_run_id, "node_id": step.reused_from_node_id}
        if step.reused_from_run_id
        else None,
        **step_usage_api(step),
        "tool_calls": [
            {
                "tool": c.tool,
                "mutating": c.mutating,
                "dry_run": c.dry_run,
                "reused": c.reused,
                "source": c.source,
                "recorded_in": c.recorded_in_run_id or None,
                "label": call_label_text(
                    source=c.source,
                    recorded_in_run_id=c.recorded_in_run_id,
                    reused_from_run_id=step.reused_from_run_id,
                ),
                "arguments": c.arguments,
                "result": c.result,
            }
            for c in (step.tool_calls.all() if calls is None else calls)
        ],
    }


def run_dict(run: Run, *, steps: list[dict] | None = None, usage: RunUsage | None = None) -> dict:
    """A run as the API shows it; `usage`, when the caller read it for a page of runs at once, saves a query.

    `steps`: as step_dict built them (a run's detail, an export), or left out (None).
    """
    data = {
        "run_id": run.run_id,
        "workspace": run.workspace.slug,
        "workflow_id": run.workflow.workflow_id,
        "version": run.version_number if run.version_id else None,
        "version_number": run.version_number,
        "status": run.status,
        "trigger_payload": run.trigger_payload,
        "payload_edited": run.payload_edited,
        "from_nodes": run.from_nodes,
        "tools": run.tools,
        "replay_of": run.replay_of_id,
        "lineage_note": Run.SOURCE_GONE if run.source_is_gone else None,
        "replay_depth": run.replay_depth,
        "mode": run.mode or None,
        "overrides": run.overrides,
        "node_mapping": run.node_mapping,
        "simulated": run.simulated,
        "created_at": iso(run.created_at),
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "error": run.error or None,
        **(usage if usage is not None else usage_of_run(run.run_id)).as_api(),
    }
    if steps is not None:
        data["steps"] = steps
    return data
