"""Whether a recorded step can be reused: its definition and the input it would render now, against the record."""

import hashlib
import json
from decimal import Decimal
from typing import NamedTuple

from runs.models import NodeType, Step

from .plan import PlannedNode, effective_model, effective_prompt_hash
from .templating import first_missing, render_text, render_value, with_node_names


class RecordedStep(NamedTuple):
    """What a plan reads of a source step: a plain tuple, as a plan reads a thousand of them."""

    node_id: str
    type: str
    status: str
    input: dict
    output: str
    model_ref: str
    prompt_hash: str
    reused_from_run_id: str
    reused_from_node_id: str
    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int | None
    cache_write_tokens: int | None
    cost_usd: Decimal | None


def recorded_steps(run_id: str) -> dict[str, RecordedStep]:
    """A run's steps by node id, as the plan reads them (not their timings or raw usage)."""
    rows = Step.objects.filter(run_id=run_id).values_list(*RecordedStep._fields)
    return {row[0]: RecordedStep._make(row) for row in rows}


def input_digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def same_input(fresh: dict, recorded: dict) -> bool:
    """Whether a node would render the input its step recorded: their digests agree.

    Python's == already tells strings apart exactly, so an LLM node's input (all strings) needs no digest;
    values of other types are digested too, because 1 == 1.0 == True in Python but not in JSON.
    """
    if fresh != recorded:
        return False
    return all(isinstance(v, str) for v in fresh.values()) or input_digest(fresh) == input_digest(recorded)


def rendered_input(node: PlannedNode, context: dict, templates: dict, overrides: dict) -> dict:
    """The part of a step's recorded input that its parents' outputs and the trigger payload decide."""
    if node.type == NodeType.LLM:
        template = templates.get((node.config["prompt"]["artifact_id"], effective_prompt_hash(node, overrides)), "")
        rendered = {"prompt": render_text(template, context)}
        system = node.options.system
        if system:
            rendered["system"] = render_text(system, context)
        return rendered
    return {"arguments": render_value(node.config.get("args", {}), context)}


def missing_input(node: PlannedNode, context: dict, templates: dict, overrides: dict, *, unknown_nodes: set[str]):
    """The value a node's templates read that rendering it in `context` would not find: what it will fail on."""
    if node.type == NodeType.LLM:
        template = templates.get((node.config["prompt"]["artifact_id"], effective_prompt_hash(node, overrides)), "")
        return first_missing([template, node.options.system or ""], context, unknown_nodes=unknown_nodes)
    return first_missing(node.config.get("args", {}), context, unknown_nodes=unknown_nodes)


def recorded_input(step: RecordedStep, node: PlannedNode) -> dict:
    recorded = step.input or {}
    keys = ("prompt", "system") if node.type == NodeType.LLM else ("arguments",)
    return {k: recorded[k] for k in keys if k in recorded}


def parsed_output(step) -> object:
    """A step's output as its dependents' templates see it: a tool's JSON result decoded, an LLM's text."""
    if step.type == NodeType.TOOL:
        try:
            return json.loads(step.output)
        except ValueError:
            return step.output
    return step.output


def _args_differ(node: PlannedNode, source_node: PlannedNode, source_of) -> bool:
    """Whether a tool node's argument templates differ from the source node's, a renamed node's references read
    through the mapping: `{{ nodes.compose_reply.output }}` of a v2 is the `{{ nodes.draft.output }}` of v1."""
    args, source_args = node.config.get("args", {}), source_node.config.get("args", {})
    return args != source_args and with_node_names(args, source_of) != source_args


def definition_change(
    node: PlannedNode, source_node: PlannedNode | None, step: RecordedStep, overrides, source_of
) -> str:
    """What differs between the node as it will run and the node that recorded `step`; "" when nothing does."""
    if source_node is None or source_node.type != node.type:
        return "node type changed"
    if node.type == NodeType.LLM:
        if effective_prompt_hash(node, overrides) != step.prompt_hash:
            return "prompt changed"
        if effective_model(node, overrides) != step.model_ref:
            return "model changed"
        if node is not source_node and node.options != source_node.options:  # one version's nodes are cached
            return "options changed"
    else:
        if node.tool_name != source_node.tool_name:
            return "tool changed"
        if node is not source_node and _args_differ(node, source_node, source_of):
            return "arguments changed"
    if {source_of(dep) for dep in node.after} != set(source_node.after):
        return "dependencies changed"
    return ""
