"""Executes one run: a node starts once every node in its `after` has completed, each step committed as it happens.

Ownership of a running run is a *lease* (a random token on the row). Every write that moves
the run is a compare-and-swap on that lease, so pause, cancel, resume, a redelivered task and
the stale-run sweep can race without two executors ever working one run.

Concurrent branches: up to RUN_MAX_PARALLEL steps of one run execute at once. The run's own thread (the
*coordinator*) decides what starts, renders every input and makes every write, so each step boundary is
still one commit under the lease on one database connection; only the waiting part of a step (a provider
call, an http tool) runs in a thread of the run's pool, which holds no database connection. A step that
reads or writes Reprise's own tables (records.*, messages.send) runs on the coordinator. With one step
ready and none running, the step runs on the coordinator too: a chain executes exactly as before.
"""

import heapq
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import NamedTuple

from django.conf import settings
from django.db import DatabaseError, connections
from django.utils import timezone

from runs.jsonvalues import Unstorable, storable, storable_text
from runs.models import Run, Step, ToolCall

from .lease import claim, fail_run, heartbeat, hold, keep
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


def with_input(exc: Exception, rendered: dict) -> Exception:
    """The step's rendered input travels with its failure, so the trace shows what was called, not {}."""
    exc.rendered_input = rendered  # type: ignore[attr-defined]
    return exc


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
        held, failure = self.settle_unfinished(plan, done)
        if held:
            Schedule(self, plan, done, failure).execute()

    def settle_unfinished(self, plan, done: "dict[str, RecordedSoFar]") -> tuple[bool, str | None]:
        """Steps a lost worker left unfinished: whether the run is still ours, and its failure message if one of
        them failed or may have had its side effect. A running step that invokes nothing is simply run again (the
        schedule restarts it); one that may have sent a mutating call is failed."""
        unfinished = [(node, done[node.node_id]) for node in plan if node.node_id in done]
        unfinished = [(node, step) for node, step in unfinished if step.status != Step.Status.COMPLETED]
        if not unfinished:
            return True, None
        if not hold(self.run.pk, self.lease):
            return False, None
        failure = None
        for node, step in unfinished:
            if step.status == Step.Status.FAILED:
                failure = failure or f"Node {node.node_id} failed: {step.error}"
            elif self.invokes_mutation(node):
                # Started before a crash, never recorded as finished: the side effect may have happened.
                Step.objects.filter(pk=step.id).update(
                    status=Step.Status.FAILED, error=INTERRUPTED, finished_at=timezone.now()
                )
                done[node.node_id] = step._replace(status=Step.Status.FAILED, error=INTERRUPTED)
                failure = failure or f"Node {node.node_id} failed: {INTERRUPTED}"
        return True, failure

    def invokes_mutation(self, node: PlannedNode) -> bool:
        return node.mutating and not self.will_dry_run(node) and self.disposition(node) != Disposition.RECORDED

    def begin(self, node: PlannedNode, position: int, existing: "RecordedSoFar | None", alone: bool) -> int | None:
        """Record what finished, hold the lease and start this step: its id, or None when it must not start.

        Alone (no other step of the run executing), a pause or cancel lets the lease go here, as it always did;
        beside running steps the lease is kept until they have finished and been recorded.
        """
        if existing is None:
            return self.boundary.start(
                node_id=node.node_id,
                type=node.type,
                position=position,
                mapped_from=self.original_node_of.get(node.node_id, ""),
                invokes_mutation=self.invokes_mutation(node),
                let_go=alone,
            )
        self.boundary.flush()
        if not (hold(self.run.pk, self.lease) if alone else keep(self.run.pk, self.lease)):
            return None
        Step.objects.filter(pk=existing.id).update(started_at=timezone.now())
        return existing.id

    def prepare(self, node: PlannedNode, prompts, recorded) -> "Call":
        """Render the step's input on the coordinator (it reads earlier outputs): the call left to make."""
        if node.type == "llm":
            return self.llm_call(node, prompts)
        return self.tool_call(node, recorded)

    def outcome(self, step_id: int, node: PlannedNode, future: "Future[Done]") -> str | None:
        """Hand a finished step to the boundary (recorded with its next commit); its run's failure message if it
        failed, else None."""
        try:
            result = future.result()
        except (StepFailed, TemplateError, ProviderError, ToolError) as exc:
            message = storable_text(str(exc))
            rendered = getattr(exc, "rendered_input", None)
            self.boundary.outcome = StepOutcome(
                step_id,
                Step.Status.FAILED,
                timezone.now(),
                {} if rendered is None else {"input": rendered},
                error=message,
                node_id=node.node_id,
            )
            return f"Node {node.node_id} failed: {message}"
        if result.fields.get("simulated") and not self.simulated:
            self.simulated = self.boundary.simulated = True  # recorded with the step
        self.boundary.outcome = StepOutcome(
            step_id, Step.Status.COMPLETED, result.finished_at, result.fields, result.tool_call, node_id=node.node_id
        )
        self.context["nodes"][node.node_id] = {"output": result.output}
        return None

    def timed(self, work: "Callable[[], tuple[dict, dict | None, object]]") -> "Done":
        with heartbeat(self.run.pk, self.lease):  # a call of minutes keeps the run from looking abandoned
            fields, tool_call, output = work()
        return Done(fields, tool_call, output, timezone.now())

    def in_thread(self, work) -> "Done":
        try:
            return self.timed(work)
        finally:
            connections.close_all()  # this pool thread's own, should a call have opened one: it holds none

    def llm_call(self, node: PlannedNode, prompts) -> "Call":
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

        def call() -> tuple[dict, None, str]:
            called_at = timezone.now()  # the step is priced at the time of its call
            try:
                completion = complete(model_ref, prompt, **{**sent, "stop": tuple(options.stop)})
            except ProviderError as exc:
                raise with_input(exc, storable({"prompt": prompt, **sent})) from None
            usage = completion.usage
            text = storable_text(completion.text)
            fields = {
                "input": storable({"prompt": prompt, **sent}),
                "output": text,
                "model_ref": model_ref,
                "prompt_hash": prompt_hash,
                "prompt_artifact_id": node.config["prompt"]["artifact_id"],
                "simulated": completion.simulated,
                **{name: getattr(usage, name) for name in Step.USAGE_FIELDS},
                "raw_usage": storable(usage.raw),
                "cost_usd": price(model_ref, usage, called_at),
                "price_version": PRICE_VERSION,
                "latency_ms": completion.latency_ms,
                "finish_reason": completion.finish_reason,
            }
            return fields, None, text

        return Call(call, waits=True)

    def tool_call(self, node: PlannedNode, recorded) -> "Call":
        try:
            arguments = storable(render_value(node.config.get("args", {}), self.context))
        except Unstorable as exc:
            raise ToolError(f"its arguments cannot be stored: {exc}") from None
        dry_run = self.will_dry_run(node)
        original = self.original_node_of.get(node.node_id, node.node_id)
        source, recorded_in = ToolCall.Source.LIVE, ""

        def answered(result, dry_run: bool, source: str, recorded_in: str) -> tuple[dict, dict, object]:
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

        if self.disposition(node) == Disposition.RECORDED:
            recording = recorded.get(original)
            if recording is None or canonical(recording.arguments) != canonical(arguments):
                raise with_input(StepFailed(mismatch(arguments, recording)), {"arguments": arguments})
            answer = answered(recording.result, False, ToolCall.Source.RECORDED, recording.run_id)
            return Call(lambda: answer, waits=False)
        if dry_run:
            found = recorded.get(original)
            answer = answered(
                (found.result if found is not None else None) or DRY_RUN_PLACEHOLDER, True, ToolCall.Source.DRY_RUN, ""
            )
            return Call(lambda: answer, waits=False)
        tool = TOOLS.get(node.tool_name)
        if tool is None:
            raise ToolError(f"unknown tool {node.tool_name!r}")
        ctx = ToolContext(run_id=self.run.pk, workspace_id=self.run.workspace_id, node_id=node.node_id)

        def call() -> tuple[dict, dict, object]:
            sent = {"arguments": arguments}
            try:
                result = tool.call(arguments, ctx)
            except ToolError as exc:
                raise with_input(exc, sent) from None
            except Exception:  # a tool's own bug fails its step, not the worker; its details go to the log only
                log.exception("run %s: tool %s raised", self.run.pk, tool.name)
                raise with_input(ToolError(f"{tool.name} failed unexpectedly ({UNEXPECTED})"), sent) from None
            try:  # encoded before the step boundary, so the write cannot be refused for the value
                result = storable(result, max_bytes=MAX_RESULT_BYTES)
            except Unstorable as exc:
                raise with_input(
                    ToolError(f"{tool.name} returned a result that cannot be stored: {exc}"), sent
                ) from None
            return answered(result, False, source, recorded_in)

        # A tool on Reprise's own tables uses the run's connection: its thread, not the pool's.
        return Call(call, waits=not tool.uses_database)


class Call(NamedTuple):
    """A step's call, its input rendered: `work` makes it; `waits` says it waits on the network (a provider,
    an http tool), so it may run in the pool beside the run's other steps."""

    work: Callable[[], tuple[dict, dict | None, object]]
    waits: bool


class Done(NamedTuple):
    """A call that returned: the step's fields, its tool call, its output (what later templates read), when."""

    fields: dict
    tool_call: dict | None
    output: object
    finished_at: object


class Schedule:
    """One execution of a run's steps: starts each node once its `after` have completed, up to RUN_MAX_PARALLEL.

    Positions stay the nodes' places in the version's order, whatever order steps finish in. A failed step
    starts nothing more; the run fails once the steps running beside it have finished and been recorded. A
    pause or cancel seen at a boundary starts nothing more and lets the running steps finish; the lease is let
    go once they are recorded (or kept, if the run was resumed meanwhile).
    """

    def __init__(self, executor: RunExecutor, plan, done: "dict[str, RecordedSoFar]", failure: str | None):
        self.executor = executor
        self.boundary = executor.boundary
        self.plan = plan
        self.done = done
        self.failure = failure
        self.parallel = max(1, settings.RUN_MAX_PARALLEL)
        self.position = {node.node_id: i for i, node in enumerate(plan)}
        self.running: dict[Future[Done], tuple[PlannedNode, int]] = {}
        self.pool: ThreadPoolExecutor | None = None
        # Nodes still to run: how many of their `after` have not completed, who waits on each, which are ready.
        completed = {node_id for node_id, step in done.items() if step.status == Step.Status.COMPLETED}
        self.blocked: dict[str, int] = {}
        self.dependents: dict[str, list[str]] = defaultdict(list)
        self.ready: list[tuple[int, str]] = []  # a heap by position: with one at a time, the version's order
        for i, node in enumerate(plan):
            step = done.get(node.node_id)
            if step is not None and step.status != Step.Status.RUNNING:
                continue  # completed, or failed
            missing = [a for a in node.after if a not in completed and a in self.position]
            for parent in missing:
                self.dependents[parent].append(node.node_id)
            self.blocked[node.node_id] = len(missing)
            if not missing:
                heapq.heappush(self.ready, (i, node.node_id))

    def execute(self) -> None:
        try:
            self.loop()
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)

    def loop(self) -> None:
        executor, boundary = self.executor, self.boundary
        prompts = prompt_contents(executor.run.workspace_id, self.plan, executor.overrides)
        recorded = executor.recorded_results(self.plan)
        letting_go = False  # paused, cancelled or taken over at a boundary: nothing more starts
        while True:
            while self.ready and len(self.running) < self.parallel and not letting_go:
                position, node_id = heapq.heappop(self.ready)
                node, existing = self.plan[position], self.done.get(node_id)
                if self.failure and existing is None:
                    continue  # nothing new starts once a step failed
                alone = not self.running
                step_id = executor.begin(node, position, existing, alone)
                if step_id is None:
                    if alone:
                        return  # paused, cancelled or taken over at this boundary: the lease is let go
                    heapq.heappush(self.ready, (position, node_id))  # tried again if the run is resumed
                    letting_go = True
                    break
                self.launch(node, step_id, alone and not self.ready, prompts, recorded)
            if self.running:
                self.collect()
                if boundary.outcome is not None and self.running and (self.failure or letting_go or not self.ready):
                    boundary.flush()  # nothing starts with this commit: the finished step is recorded now
                continue
            if self.failure:
                boundary.fail(self.failure)
                return
            if letting_go:
                boundary.flush()
                if not hold(executor.run.pk, executor.lease):
                    return  # paused or cancelled: the running steps are recorded and the lease let go
                letting_go = False  # resumed while they finished
                continue
            while not boundary.complete():
                if not hold(executor.run.pk, executor.lease):  # paused or cancelled after the last step
                    return
            return

    def launch(self, node: PlannedNode, step_id: int, alone: bool, prompts, recorded) -> None:
        """Make the step's call: in the pool when it waits on the network and may overlap another step."""
        executor = self.executor
        future: Future[Done] = Future()
        try:
            call = executor.prepare(node, prompts, recorded)
            if call.waits and self.parallel > 1 and not alone:
                future = self.threads().submit(executor.in_thread, call.work)
            else:
                future.set_result(executor.timed(call.work))
        except (StepFailed, TemplateError, ProviderError, ToolError) as exc:
            future.set_exception(exc)
        self.running[future] = (node, step_id)

    def threads(self) -> ThreadPoolExecutor:
        if self.pool is None:
            self.pool = ThreadPoolExecutor(self.parallel, thread_name_prefix=f"{self.executor.run.pk}-step")
        return self.pool

    def collect(self) -> None:
        """Wait for a running step to return; hand each returned step to the boundary, in the version's order."""
        finished, _ = wait(self.running, return_when=FIRST_COMPLETED)
        for future in sorted(finished, key=lambda f: self.position[self.running[f][0].node_id]):
            node, step_id = self.running.pop(future)
            if self.boundary.outcome is not None:
                self.boundary.flush()  # steps that return together are recorded one commit each
            failure = self.executor.outcome(step_id, node, future)
            if failure is not None:
                self.failure = self.failure or failure
                continue
            for child in self.dependents.pop(node.node_id, ()):
                self.blocked[child] -= 1
                if not self.blocked[child]:
                    heapq.heappush(self.ready, (self.position[child], child))


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
