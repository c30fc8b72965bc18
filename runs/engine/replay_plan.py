"""The replay plan: what a replay will reuse, run, drop, dry-run or really invoke, and what it may cost.

One function (build_plan) computes it for the dialog, the API and submit; the plan is persisted on
the new run and the executor follows it, so what was shown is what runs. The dry-run decision in it
is plan.mutation_decision, the same rule the executor applied before plans existed.
"""

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field

from runs.models import NodeType, Run, Step

from .plan import PlannedNode, effective_model, mutation_decision, prompt_contents, version_plan
from .pricing import price
from .providers import Usage
from .reusability import (
    RecordedStep,
    definition_change,
    input_digest,
    missing_input,
    parsed_output,
    recorded_input,
    recorded_steps,
    rendered_input,
    same_input,
)
from .templating import TemplateError


class Action(StrEnum):
    REUSE = "reuse"
    RUN = "run"
    DROP = "drop"


class Disposition(StrEnum):
    """What happens to a node's tool call: copied with its step, dry-run, answered from the recording, or really sent."""

    REUSED = "reused"
    DRY_RUN = "dry_run"
    RECORDED = "recorded"
    INVOKE = "invoke"


class Tools(StrEnum):
    """A replay's tool calls: sent as the dry-run rule decides (live), or answered from the source's recording."""

    LIVE = "live"
    RECORDED = "recorded"


REUSE, RUN, DROP = Action.REUSE, Action.RUN, Action.DROP


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReusedFrom(_Shape):
    run_id: str
    node_id: str


class PersistedNode(_Shape):
    action: Action
    disposition: Disposition | None = None
    reused_from: ReusedFrom | None = None


class PersistedPlan(_Shape):
    """The plan as a replay run stores it: submit writes it, the executor reads it back through this type."""

    version: str
    from_nodes: list[str] | None
    tools: Tools = Tools.LIVE
    nodes: dict[str, PersistedNode]

    @classmethod
    def of(cls, run) -> "PersistedPlan | None":
        return cls.model_validate(run.replay_plan) if run.replay_plan else None


class PlannedCall(_Shape):
    tool: str
    mutating: bool
    disposition: Disposition
    policy: str | None


class PlannedNodeShape(_Shape):
    """One node of a plan as the API answers it."""

    node_id: str
    mapped_from: str | None
    action: Action
    reason: str = Field(
        description="Why the node runs or is reused, in every plan: what changed ('prompt changed', 'model changed', "
        "'input changed'), 'input may change: downstream of <node>', 'unchanged inputs', 'start node', "
        "'its recorded step is reused', or 'will fail: missing <value>'."
    )
    will_fail: str | None = Field(
        description="What the node's templates read that this replay cannot give it ('missing trigger.order_total'): "
        "it would fail there."
    )
    call: PlannedCall | None
    estimated_cost_usd: list[str] | None
    reused_from: ReusedFrom | None


class PlanTotals(_Shape):
    runs: int
    reuses: int
    drops: int
    invokes: int
    dry_runs: int
    recorded: int
    estimated_cost_usd: list[str] | None


NARROW, WIDE = Decimal("0.10"), Decimal("0.50")  # the estimate's range: unchanged, or changed or downstream of a change


@dataclass
class NodePlan:
    node_id: str
    mapped_from: str  # the source node id, when the node mapping renamed it
    action: Action
    reason: str
    tool: str = ""
    mutating: bool = False
    disposition: Disposition | None = None  # for a tool call
    policy: str = ""  # which policy decided an invoke or a dry run
    reused_from: dict | None = None  # {"run_id", "node_id"}: the step that first produced the output
    estimate: tuple[Decimal, Decimal] | None = None
    will_fail: str = ""  # what the executor would not find when rendering it: "missing trigger.order_total"

    @property
    def missing(self) -> str:
        """The value will_fail names ("trigger.order_total"), as the executor's error names it (templating)."""
        return self.will_fail.removeprefix("missing ")

    def contract(self) -> list:
        return [self.node_id, self.mapped_from, self.action, self.disposition, self.reused_from]

    def as_api(self) -> PlannedNodeShape:
        call = None
        if self.tool and self.disposition is not None:
            call = PlannedCall(
                tool=self.tool, mutating=self.mutating, disposition=self.disposition, policy=self.policy or None
            )
        return PlannedNodeShape(
            node_id=self.node_id,
            mapped_from=self.mapped_from or None,
            action=self.action,
            reason=self.reason,
            will_fail=self.will_fail or None,
            call=call,
            estimated_cost_usd=[_money(v) for v in self.estimate] if self.estimate else None,
            reused_from=ReusedFrom(**self.reused_from) if self.reused_from else None,
        )


def _money(value: Decimal) -> str:
    text = f"{value.quantize(Decimal('1e-8')):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass
class ReplayPlan:
    target_version_id: int
    from_nodes: tuple[str, ...] | None
    tools: Tools = Tools.LIVE
    nodes: list[NodePlan] = field(default_factory=list)
    dropped: list[NodePlan] = field(default_factory=list)

    @property
    def version(self) -> str:
        """Names what will happen; a submit whose plan has another version is refused (409)."""
        contract = [self.target_version_id, self.from_nodes, [n.contract() for n in self.nodes + self.dropped]]
        return "plan_" + input_digest(contract)[:16]

    def count(self, action: str) -> int:
        return sum(n.action == action for n in self.nodes)

    def calls(self, disposition: Disposition) -> list[NodePlan]:
        return [n for n in self.nodes if n.disposition == disposition and n.mutating]

    @property
    def invoking(self) -> list[NodePlan]:
        return self.calls(Disposition.INVOKE)

    @property
    def failing(self) -> list[NodePlan]:
        """The nodes that will run and fail: a value their templates read is missing."""
        return [n for n in self.nodes if n.will_fail]

    def estimate(self) -> tuple[Decimal, Decimal] | None:
        ranges = [n.estimate for n in self.nodes if n.estimate is not None]
        llm_runs = [n for n in self.nodes if n.action == RUN and not n.tool]
        if not ranges and llm_runs:
            return None
        return (sum((r[0] for r in ranges), Decimal(0)), sum((r[1] for r in ranges), Decimal(0)))

    def by_node(self) -> dict[str, NodePlan]:
        return {n.node_id: n for n in self.nodes}

    def persisted(self) -> dict:
        """What the new run stores and its executor follows (read back as PersistedPlan)."""
        plan = PersistedPlan(
            version=self.version,
            from_nodes=list(self.from_nodes) if self.from_nodes is not None else None,
            tools=self.tools,
            nodes={
                n.node_id: PersistedNode(
                    action=n.action,
                    disposition=n.disposition,
                    reused_from=ReusedFrom(**n.reused_from) if n.reused_from else None,
                )
                for n in self.nodes
            },
        )
        return plan.model_dump(mode="json")

    def api_nodes(self) -> list[PlannedNodeShape]:
        return [n.as_api() for n in self.nodes + self.dropped]

    def totals(self) -> PlanTotals:
        estimate = self.estimate()
        return PlanTotals(
            runs=self.count(RUN),
            reuses=self.count(REUSE),
            drops=len(self.dropped),
            invokes=len(self.calls(Disposition.INVOKE)),
            dry_runs=len(self.calls(Disposition.DRY_RUN)),
            recorded=sum(n.disposition == Disposition.RECORDED for n in self.nodes),
            estimated_cost_usd=[_money(v) for v in estimate] if estimate else None,
        )


def descendants(plan: tuple[PlannedNode, ...], start: set[str]) -> set[str]:
    """The start nodes and every node that depends on one of them, directly or not."""
    found = set(start)
    for node in plan:  # execution order: every dependency comes before its dependents
        if any(dep in found for dep in node.after):
            found.add(node.node_id)
    return found


def _estimate(
    node: PlannedNode, step: RecordedStep | None, overrides: dict, wide: bool, repriced: dict
) -> tuple[Decimal, Decimal] | None:
    """The node's recorded cost, or its recorded usage re-priced where it will run another model; then a range."""
    if node.type != NodeType.LLM or step is None or step.input_tokens is None or step.output_tokens is None:
        return None
    model = effective_model(node, overrides)
    cost = step.cost_usd if model == step.model_ref else None
    if cost is None:
        usage = Usage(step.input_tokens, step.output_tokens, step.cache_read_tokens, step.cache_write_tokens)
        key = (model, usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens)
        if key not in repriced:  # a plan of a thousand alike steps prices their usage once
            repriced[key] = price(model, usage, timezone.now())
        cost = repriced[key]
    if cost is None:
        return None
    spread = WIDE if wide else NARROW
    return (cost * (1 - spread), cost * (1 + spread))


UNCHANGED = "unchanged inputs"
DOWNSTREAM = "input may change: downstream of"
# Under tools "recorded", a call whose arguments came out otherwise finds no recording and its step fails.
RECORDED_ONLY_SAME = "the recording answers the same arguments only, other ones fail the step"


def _unfinished(step: RecordedStep) -> str:
    return f"its recorded step {'failed' if step.status == Step.Status.FAILED else 'did not finish'}"


def _input_changed(node: PlannedNode, step: RecordedStep, context: dict, templates: dict, overrides: dict) -> bool:
    """Whether the node would render another input than its step recorded (or could not render one)."""
    try:
        fresh = rendered_input(node, context, templates, overrides)
    except TemplateError:
        return True
    return not same_input(fresh, recorded_input(step, node))


def _full_replay_reason(
    node: PlannedNode,
    step: RecordedStep | None,
    change: str,
    upstream: str,
    context: dict,
    templates: dict,
    overrides: dict,
) -> str:
    """Why a node of a replay without a start node may answer differently from its recorded step, or that it may not."""
    if change:
        return change
    assert step is not None  # a node without a recorded step has a change ("no recorded step")
    if upstream:
        return f"{DOWNSTREAM} {upstream}"
    if step.status != Step.Status.COMPLETED:
        return _unfinished(step)
    if _input_changed(node, step, context, templates, overrides):
        return "input changed"
    return UNCHANGED


def build_plan(
    *,
    source: Run,
    target_version_id: int,
    overrides: dict,
    node_mapping: dict[str, str],
    from_nodes: tuple[str, ...] | None,
    workspace_allows: bool,
    trigger_payload: dict | None = None,
    tools: Tools = Tools.LIVE,
    explain: bool = True,
) -> ReplayPlan:
    """Every node of the target version with its action and reason, each tool call with its disposition.

    Without start nodes every node runs, as a replay always did, each with what may make it answer differently
    (a change of its own, an input that changed or may change) or "unchanged inputs". With them, the start nodes
    and their descendants run, and so does every node whose recorded step cannot be reused; the rest is reused.
    A node that will run but reads a value its template cannot find "will fail", as the executor would.
    Submit passes explain=False: the actions and dispositions (the plan's version) are the same, the reasons
    of a full replay are not worked out.
    With recorded tools, every tool call that runs is answered from the source's recording: nothing is sent.
    """
    target = version_plan(target_version_id)
    source_nodes = {n.node_id: n for n in version_plan(source.version_id)} if source.version_id else {}
    source_of_target = {new: old for old, new in node_mapping.items()}

    def source_of(node_id: str) -> str:
        return source_of_target.get(node_id, node_id)

    # A plan shown reads the recorded steps: its reasons say what changes, its estimate re-prices their usage. A full
    # replay on the source's own version reuses and drops nothing, so submit (explain=False) needs none for it.
    full_on_own_version = from_nodes is None and target_version_id == source.version_id
    steps = recorded_steps(source.pk) if explain or not full_on_own_version else {}
    templates = prompt_contents(source.workspace_id, target, overrides) if explain or from_nodes is not None else {}
    context: dict = {"trigger": source.trigger_payload if trigger_payload is None else trigger_payload, "nodes": {}}
    must_run = descendants(target, set(from_nodes)) if from_nodes is not None else {n.node_id for n in target}
    changed: set[str] = set()  # nodes whose definition or input changed (or may): the estimate is wide for them
    repriced: dict = {}  # (model, usage counts) -> price
    plan = ReplayPlan(target_version_id=target_version_id, from_nodes=from_nodes, tools=Tools(tools))
    # The nodes whose output is not known yet: every node but those reused so far, whose recorded output a
    # placeholder can be checked against. Kept as the loop goes: a set difference per node was quadratic.
    unknown: set[str] = {n.node_id for n in target}
    for node in target:
        source_id = source_of(node.node_id)
        step = steps.get(source_id)
        source_node = source_nodes.get(source_id)
        upstream = next((dep for dep in node.after if dep in changed), "")
        change = definition_change(node, source_node, step, overrides, source_of) if step else "no recorded step"
        if change:
            changed.add(node.node_id)
        action, reason = REUSE, "its recorded step is reused"
        if from_nodes is None:
            action, reason = RUN, "every node runs"
            if explain:
                reason = _full_replay_reason(node, step, change, upstream, context, templates, overrides)
            if reason != UNCHANGED:
                changed.add(node.node_id)
        elif node.node_id in from_nodes:
            action, reason = RUN, "start node"
        elif node.node_id in must_run:
            parent = next(dep for dep in node.after if dep in must_run)
            action, reason = RUN, f"{DOWNSTREAM} {parent}"
        elif step is None:
            action, reason = RUN, "no recorded step to reuse"
        elif step.status != Step.Status.COMPLETED:
            action, reason = RUN, _unfinished(step)
        elif change:
            action, reason = RUN, change
        elif _input_changed(node, step, context, templates, overrides):
            action, reason = RUN, "input changed"
            changed.add(node.node_id)
        if tools == Tools.RECORDED and node.type == NodeType.TOOL and action == RUN and reason.startswith(DOWNSTREAM):
            reason = f"{reason}: {RECORDED_ONLY_SAME}"
        will_fail = ""
        if action == RUN:
            must_run.add(node.node_id)
            missing = explain and missing_input(node, context, templates, overrides, unknown_nodes=unknown)
            if missing:
                will_fail = f"missing {missing}"
                reason = f"will fail: {will_fail}"
        elif step is not None:
            unknown.discard(node.node_id)
        if step is not None and (action == REUSE or from_nodes is None):
            # A full replay renders each node against its parents' recorded outputs: "unchanged inputs" is
            # what a node would read if every parent answered as it did.
            context["nodes"][node.node_id] = {"output": parsed_output(step)}
        entry = NodePlan(
            node_id=node.node_id,
            mapped_from=source_id if source_id != node.node_id else "",
            action=action,
            reason=reason,
            will_fail=will_fail,
            estimate=(Decimal(0), Decimal(0))
            if action == REUSE and node.type == NodeType.LLM
            else (
                _estimate(node, step, overrides, node.node_id in changed or bool(upstream), repriced)
                if action == RUN and explain
                else None
            ),
        )
        if action == REUSE and step is not None:
            entry.reused_from = (
                {"run_id": step.reused_from_run_id, "node_id": step.reused_from_node_id}
                if step.reused_from_run_id
                else {"run_id": source.pk, "node_id": source_id}
            )
        if node.type == NodeType.TOOL:
            entry.tool, entry.mutating = node.tool_name, node.mutating
            decision = mutation_decision(node, workspace_allows=workspace_allows)
            if action == REUSE:
                entry.disposition = Disposition.REUSED
            elif tools == Tools.RECORDED:
                entry.disposition = Disposition.RECORDED
            elif decision is None:
                entry.disposition = Disposition.INVOKE
            else:
                entry.disposition = Disposition.INVOKE if decision.invoke else Disposition.DRY_RUN
                entry.policy = decision.reason
        plan.nodes.append(entry)
    targeted = {source_of(n.node_id) for n in target}
    for source_id in steps:
        if source_id not in targeted:
            plan.dropped.append(NodePlan(source_id, "", DROP, "no node of the target version receives it"))
    return plan
