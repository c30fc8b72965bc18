"""Executes one run: its version's nodes in dependency order, each step committed as it happens.

Ownership of a running run is a *lease* (a random token on the row). Every write that moves
the run is a compare-and-swap on that lease, so pause, cancel, resume, a redelivered task and
the stale-run sweep can race without two executors ever working one run.
"""

import json
import logging
import uuid
from typing import NamedTuple

from django.db import DatabaseError
from django.utils import timezone

from runs.jsonvalues import Unstorable, storable, storable_text
from runs.models import Run, Step, ToolCall

from .lease import claim, fail_run, heartbeat, hold
from .plan import (
    PlannedNode,
    effective_model,
    effective_prompt_hash,
    mutation_decision,
    prompt_contents,
    version_plan,
)
from .pricing import PRICE_VERSION, price
from .providers import ProviderError, complete
from .replay_plan import Disposition, PersistedPlan
from .reusability import parsed_output
from .reuse import copy_reused_steps, reused_nodes
from .step_boundary import StepBoundary, StepOutcome
from .templating import TemplateError, render_text, render_value
from .tools import TOOLS, ToolContext, ToolError

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted; not retried to avoid a duplicate side effect"
DRY_RUN_PLACEHOLDER = {"dry_run": True}
# Said instead of an exception's own text, which quotes Python or SQL (IntegrityError: UNIQUE constraint failed: …).
UNEXPECTED = "the details are in the worker's log"
# What one tool result may weigh as stored JSON (the http tools' own cap, HTTP_TOOL_MAX_BYTES, comes first).
MAX_RESULT_BYTES = 16 * 1024 * 1024

NO_RECORDED_CALL = "No recorded call matches this tool call."


class Recording(NamedTuple):
    """The original run's call of a node: what a dry run returns and what a recorded call must match."""

    arguments: object
    result: object
    run_id: str  # the run where it was really made (a recorded call's own recording names its run)


class StepFailed(Exception):
    pass


class RunExecutor:
    def __init__(self, run: Run, lease: str):
        self.run = run
        self.lease = lease
        self.overrides = run.overrides or {}
        reverse = {new: old for old, new in (run.node_mapping or {}).items()}
        self.original_node_of = reverse
        self.context = {"trigger": _storable_or_as_is(run.trigger_payload or {}), "nodes": {}}
        self.simulated = run.simulated
        self.boundary = StepBoundary(run.pk, lease)
        self.persisted_plan = PersistedPlan.of(run)

    def prompt_hash_for(self, node: PlannedNode) -> str:
        return effective_prompt_hash(node, self.overrides)

    def model_for(self, node: PlannedNode) -> str:
        return effective_model(node, self.overrides)

    def recorded_results(self, plan) -> dict[str, Recording]:
        """The original run's tool calls by node id, in one query: what dry-run and recorded calls answer with."""
        if not (self.run.is_replay and self.run.replay_of_id):
            return {}
        wanted = [n for n in plan if n.mutating or self.disposition(n) == Disposition.RECORDED]
        if not wanted:
            return {}
        nodes = [self.original_node_of.get(n.node_id, n.node_id) for n in wanted]
        rows = ToolCall.objects.filter(step__run_id=self.run.replay_of_id, step__node_id__in=nodes).values_list(
            "step__node_id", "arguments", "result", "recorded_in_run_id"
        )
        return {
            node_id: Recording(arguments, result, recorded_in or self.run.replay_of_id)
            for node_id, arguments, result, recorded_in in rows
        }

    def disposition(self, node: PlannedNode) -> Disposition | None:
        entry = self.persisted_plan.nodes.get(node.node_id) if self.persisted_plan else None
        return entry.disposition if entry is not None else None

    def will_dry_run(self, node: PlannedNode) -> bool:
        """As the run's plan says (the plan the dialog showed); a replay made before plans applies the same rule."""
        if not self.run.is_replay:
            return False
        disposition = self.disposition(node)
        if disposition is not None:
            return disposition == Disposition.DRY_RUN
        decision = mutation_decision(node, workspace_allows=self.run.workspace.replay_allow_mutations)
        return decision is not None and not decision.invoke

    def execute(self) -> None:
        run = self.run
        if run.version_id is None:
            fail_run(run.pk, self.lease, "The workflow version of this run was deleted before it could execute.")
            return
        plan = version_plan(run.version_id)
        if not copy_reused_steps(run, self.lease):
            return  # paused, cancelled or taken over before the copy
        # A first execution has nothing recorded but what the copy of reused steps just wrote.
        done = recorded_so_far(run.pk) if getattr(run, "had_steps", True) or reused_nodes(run) else {}
        for node_id, step in done.items():
            if step.status == Step.Status.COMPLETED:
                self.context["nodes"][node_id] = {"output": parsed_output(step)}
        prompts = prompt_contents(self.run.workspace_id, plan, self.overrides)
        recorded = self.recorded_results(plan)

        for position, node in enumerate(plan):
            existing = done.get(node.node_id)
            if existing is not None and existing.status == Step.Status.COMPLETED:
                continue
            if existing is None:
                # The common path: record the last step, hold the lease and start this one in one commit.
                if not self.run_step(node, position, None, prompts, recorded):
                    return
                continue
            self.boundary.flush()
            if not hold(run.pk, self.lease):
                return
            if existing.status == Step.Status.FAILED:
                fail_run(run.pk, self.lease, f"Node {node.node_id} failed: {existing.error}")
                return
            if self.invokes_mutation(node):
                # Started before a crash, never recorded as finished: the side effect may have happened.
                Step.objects.filter(pk=existing.id).update(
                    status=Step.Status.FAILED, error=INTERRUPTED, finished_at=timezone.now()
                )
                fail_run(run.pk, self.lease, f"Node {node.node_id} failed: {INTERRUPTED}")
                return
            if not self.run_step(node, position, existing, prompts, recorded):
                return

        while not self.boundary.complete():
            if not hold(run.pk, self.lease):  # paused or cancelled after the last step
                return

    def invokes_mutation(self, node: PlannedNode) -> bool:
        return node.mutating and not self.will_dry_run(node) and self.disposition(node) != Disposition.RECORDED

    def run_step(self, node: PlannedNode, position: int, existing: "RecordedSoFar | None", prompts, recorded) -> bool:
        if existing is None:
            step_id = self.boundary.start(
                node_id=node.node_id,
                type=node.type,
                position=position,
                mapped_from=self.original_node_of.get(node.node_id, ""),
                invokes_mutation=self.invokes_mutation(node),
            )
            if step_id is None:
                return False  # paused, cancelled or taken over at this step boundary
        else:
            step_id = existing.id
            Step.objects.filter(pk=step_id).update(started_at=timezone.now())

        fields: dict = {}
        tool_call = None
        try:
            with heartbeat(self.run.pk, self.lease):  # a call of minutes keeps the run from looking abandoned
                if node.type == "llm":
                    fields = self.call_llm(node, prompts)
                    output = fields.pop("output_value")
                else:
                    fields, tool_call, output = self.call_tool(node, recorded)
        except (StepFailed, TemplateError, ProviderError, ToolError) as exc:
            message = storable_text(str(exc))
            self.boundary.outcome = StepOutcome(
                step_id, Step.Status.FAILED, timezone.now(), fields, error=message, node_id=node.node_id
            )
            self.boundary.fail(f"Node {node.node_id} failed: {message}")
            return False
        self.boundary.outcome = StepOutcome(
            step_id, Step.Status.COMPLETED, timezone.now(), fields, tool_call, node_id=node.node_id
        )
        self.context["nodes"][node.node_id] = {"output": output}
        return True

    def call_llm(self, node: PlannedNode, prompts) -> dict:
        prompt_hash = self.prompt_hash_for(node)
        model_ref = self.model_for(node)
        template = prompts.get((node.config["prompt"]["artifact_id"], prompt_hash))
        if template is None:
            raise StepFailed(f"prompt revision {prompt_hash} of {node.config['prompt']['artifact_id']} not found")
        prompt = render_text(template, self.context)
        options = node.options
        sent = options.config()  # recorded in the step's input as sent, the system prompt rendered
        if options.system:
            sent["system"] = render_text(options.system, self.context)
        called_at = timezone.now()  # the step is priced at the time of its call
        completion = complete(model_ref, prompt, **{**sent, "stop": tuple(options.stop)})
        if completion.simulated and not self.simulated:
            self.simulated = self.boundary.simulated = True  # recorded with the step
        usage = completion.usage
        text = storable_text(completion.text)
        return {
            "input": storable({"prompt": prompt, **sent}),
            "output": text,
            "output_value": text,
            "model_ref": model_ref,
            "prompt_hash": prompt_hash,
            "prompt_artifact_id": node.config["prompt"]["artifact_id"],
            "simulated": completion.simulated,
            **{name: getattr(usage, name) for name in Step.USAGE_FIELDS},
            "raw_usage": storable(usage.raw),
            "cost_usd": price(model_ref, usage, called_at),
            "price_version": PRICE_VERSION,
            "latency_ms": completion.latency_ms,
        }

    def call_tool(self, node: PlannedNode, recorded) -> tuple[dict, dict, object]:
        try:
            arguments = storable(render_value(node.config.get("args", {}), self.context))
        except Unstorable as exc:
            raise ToolError(f"its arguments cannot be stored: {exc}") from None
        dry_run = self.will_dry_run(node)
        original = self.original_node_of.get(node.node_id, node.node_id)
        source, recorded_in = ToolCall.Source.LIVE, ""
        if self.disposition(node) == Disposition.RECORDED:
            recording = recorded.get(original)
            if recording is None or canonical(recording.arguments) != canonical(arguments):
                raise StepFailed(mismatch(arguments, recording))
            dry_run, source, recorded_in, result = False, ToolCall.Source.RECORDED, recording.run_id, recording.result
        elif dry_run:
            source = ToolCall.Source.DRY_RUN
            found = recorded.get(original)
            result = (found.result if found is not None else None) or DRY_RUN_PLACEHOLDER
        else:
            tool = TOOLS.get(node.tool_name)
            if tool is None:
                raise ToolError(f"unknown tool {node.tool_name!r}")
            ctx = ToolContext(run_id=self.run.pk, workspace_id=self.run.workspace_id, node_id=node.node_id)
            try:
                result = tool.call(arguments, ctx)
            except ToolError:
                raise
            except Exception:  # a tool's own bug fails its step, not the worker; its details go to the log only
                log.exception("run %s: tool %s raised", self.run.pk, tool.name)
                raise ToolError(f"{tool.name} failed unexpectedly ({UNEXPECTED})") from None
            try:  # encoded before the step boundary, so the write cannot be refused for the value
                result = storable(result, max_bytes=MAX_RESULT_BYTES)
            except Unstorable as exc:
                raise ToolError(f"{tool.name} returned a result that cannot be stored: {exc}") from None
        tool_call = {
            "tool": node.tool_name,
            "mutating": node.mutating,
            "dry_run": dry_run,
            "source": source,
            "recorded_in_run_id": recorded_in,
            "arguments": arguments,
            "result": result,
        }
        return {"input": {"arguments": arguments}, "output": json.dumps(result, sort_keys=True)}, tool_call, result


def _storable_or_as_is(value):
    """A payload stored before the input refused lone surrogates, encoded as a tool result would be."""
    try:
        return storable(value)
    except Unstorable:
        return value


def canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def mismatch(arguments, recording: Recording | None) -> str:
    """The step's error: the message, then each argument that differs from the recording, as JSON."""
    if recording is None:
        return f"{NO_RECORDED_CALL} The original run recorded no call of this node."
    recorded = recording.arguments
    if not (isinstance(arguments, dict) and isinstance(recorded, dict)):
        return f"{NO_RECORDED_CALL} Arguments: {canonical(arguments)}; recorded: {canonical(recorded)}."
    changed = {
        key: {"recorded": recorded.get(key), "now": arguments.get(key)}
        for key in sorted(set(arguments) | set(recorded))
        if canonical(arguments.get(key)) != canonical(recorded.get(key)) or (key in arguments) != (key in recorded)
    }
    return f"{NO_RECORDED_CALL} Arguments that differ from the recorded call: {canonical(changed)}"


class RecordedSoFar(NamedTuple):
    """A step this run already recorded (reused, or run before a redelivery): what resuming needs of it."""

    id: int
    node_id: str
    type: str
    status: str
    output: str
    error: str


def recorded_so_far(run_id: str) -> dict[str, RecordedSoFar]:
    rows = Step.objects.filter(run_id=run_id).values_list(*RecordedSoFar._fields)
    return {row[1]: RecordedSoFar._make(row) for row in rows}


def execute(run_id: str) -> None:
    """Entry point of the Celery task: claims the run, executes what is still missing."""
    lease = uuid.uuid4().hex
    run = claim(run_id, lease)
    if run is None:
        return
    executor = RunExecutor(run, lease)
    try:
        executor.execute()
    except DatabaseError:
        raise  # the database is gone: the stale-run sweep picks the run up again
    except Exception:
        log.exception("run %s failed unexpectedly", run_id)
        executor.boundary.fail(f"Internal error ({UNEXPECTED})")  # keeps the steps already run
