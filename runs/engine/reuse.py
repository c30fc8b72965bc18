"""Copying a replay's reused steps: what its plan says to reuse, copied in one commit before anything runs."""

from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from runs.models import Run, Step, ToolCall

from .lease import hold
from .plan import version_plan

NO_USAGE = {
    "input_tokens": 0,
    "output_tokens": 0,
    "cache_read_tokens": 0,
    "cache_write_tokens": 0,
    "reasoning_tokens": 0,
}


def reused_nodes(run: Run) -> dict[str, dict]:
    """The plan's reuse entries by node id (none for a run without a plan)."""
    nodes = (run.replay_plan or {}).get("nodes") or {}
    return {node_id: entry for node_id, entry in nodes.items() if entry.get("action") == "reuse"}


def copy_reused_steps(run: Run, lease: str) -> bool:
    """Copy every reused step and its tool call from the run that produced it, all or nothing.

    Returns False when the run was paused, cancelled or taken over (nothing is copied then). A copy that
    a redelivered task finds already made is not made again. Reused steps cost nothing and their tool
    calls are marked reused: nothing is sent again.
    """
    reuse = reused_nodes(run)
    if not reuse or run.version_id is None:
        return True
    mapping = {new: old for old, new in (run.node_mapping or {}).items()}
    positions = {node.node_id: i for i, node in enumerate(version_plan(run.version_id))}
    with transaction.atomic():
        if not hold(run.pk, lease):
            return False
        if Step.objects.filter(run=run, node_id__in=list(reuse)).exists():
            return True  # copied by an earlier delivery of this task
        sources = {
            s.node_id: s
            for s in Step.objects.filter(
                run_id=run.replay_of_id, node_id__in=[mapping.get(n, n) for n in reuse]
            ).prefetch_related("tool_calls")
        }
        now = timezone.now()
        copies, calls = [], []
        for node_id, entry in reuse.items():
            source = sources[mapping.get(node_id, node_id)]
            producer = entry.get("reused_from") or {"run_id": run.replay_of_id, "node_id": source.node_id}
            copy = Step(
                run=run,
                node_id=node_id,
                type=source.type,
                position=positions[node_id],
                status=Step.Status.COMPLETED,
                input=source.input,
                output=source.output,
                model_ref=source.model_ref,
                prompt_hash=source.prompt_hash,
                simulated=source.simulated,
                mapped_from=source.node_id if source.node_id != node_id else "",
                started_at=now,
                finished_at=now,
                cost_usd=Decimal(0) if source.type == "llm" else None,
                price_version=source.price_version,
                latency_ms=0 if source.type == "llm" else None,
                reused_from_run_id=producer["run_id"],
                reused_from_node_id=producer["node_id"],
                **(NO_USAGE if source.type == "llm" else {}),
            )
            copies.append(copy)
            calls += [(copy, call) for call in source.tool_calls.all()]
        Step.objects.bulk_create(copies, batch_size=500)
        # Reused steps are completed steps of this run: counted in the commit that copies them.
        Run.objects.filter(pk=run.pk).update(steps_completed=F("steps_completed") + len(copies))
        ToolCall.objects.bulk_create(
            [
                ToolCall(
                    step=copy,
                    tool=call.tool,
                    mutating=call.mutating,
                    dry_run=call.dry_run,
                    arguments=call.arguments,
                    result=call.result,
                    reused=True,
                    created_at=now,
                )
                for copy, call in calls
            ],
            batch_size=500,
        )
    return True


def planned_disposition(run: Run, node_id: str) -> str | None:
    """The disposition the run's plan recorded for a node's tool call, if the run has a plan."""
    entry = ((run.replay_plan or {}).get("nodes") or {}).get(node_id)
    return entry.get("disposition") if entry else None
