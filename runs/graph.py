"""Workflow graphs: validating node specs and ordering them for execution."""

import re
from dataclasses import dataclass, field
from heapq import heappop, heappush
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StrictStr, StringConstraints, ValidationError

from .engine.llm_options import RULES, LlmOptions
from .http.errors import BadRequest, NotFound
from .http.input import Input, invalid, parse
from .models import CONTENT_HASH_RE, PROMPT_ID_RE, CatalogModel, Node, NodeType, PromptRevision, Workspace

NODE_ID_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$")
MAX_NODES = 10_000  # the trace viewer and the benchmarks go to 10,000-step runs


@dataclass
class NodeSpec:
    node_id: str
    type: str
    config: dict
    after: list[str]
    policies: dict = field(default_factory=dict)


def _node_id(value: Any) -> str:
    if not isinstance(value, str):
        raise invalid("{field} must be a string.")
    if not NODE_ID_RE.match(value):
        raise invalid(f"{{field}} {value!r} is malformed: letters, digits, '_', '-' and '.', at most 100 characters.")
    return value


def _identifier(pattern: str, example: str) -> BeforeValidator:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise invalid("{field} must be a string.")
        if not re.match(pattern, value):
            raise invalid(f"{{field}} {value!r} is malformed: expected {example}.")
        return value

    return BeforeValidator(check)


def _policies(value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid("{field} must be an object.")
    replay = value.get("replay", {})
    if not isinstance(replay, dict) or not isinstance(replay.get("allowMutations", False), bool):
        raise invalid("{field}.replay.allowMutations must be true or false.")
    return value


def _string_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        raise invalid("{field} must be a list of node ids.")
    return value


NodeIdField = Annotated[str, BeforeValidator(_node_id), StringConstraints(pattern=NODE_ID_RE.pattern)]


class PromptRef(Input):
    artifact_id: Annotated[
        str, _identifier(PROMPT_ID_RE, "prompt_ followed by 8 hex digits"), StringConstraints(pattern=PROMPT_ID_RE)
    ]
    content_hash: Annotated[
        str,
        _identifier(CONTENT_HASH_RE, "sha256: followed by 64 hex digits"),
        StringConstraints(pattern=CONTENT_HASH_RE),
    ] = Field(description="A revision of the artifact in this workspace.")


class NodeInput(Input):
    """One node of a version, as the API sends it (options of an llm node are LlmOptions)."""

    id: NodeIdField
    type: Literal["llm", "tool"]
    after: Annotated[list[str], BeforeValidator(_string_list)] = Field(
        default=[], description="Ids of the nodes this one runs after."
    )
    policies: Annotated[dict, BeforeValidator(_policies)] = Field(
        default={}, description='{"replay": {"allowMutations": true | false}}: the node\'s own replay policy.'
    )


class LlmNodeInput(NodeInput):
    """A model call: a prompt revision, pinned by its hash, sent to a model of the catalog."""

    prompt: PromptRef
    model: StrictStr = Field(description="A model ref of the catalog, e.g. `anthropic:claude-opus-4-7`.")


class ToolNodeInput(NodeInput):
    """A tool call; `args` are templates reading `trigger.*` and `nodes.<id>.output`."""

    tool: StrictStr
    args: dict = {}


NODE_INPUTS: dict[str, type[NodeInput]] = {NodeType.LLM: LlmNodeInput, NodeType.TOOL: ToolNodeInput}


def _node_input(raw: Any, where: str) -> NodeInput:
    if not isinstance(raw, dict):
        raise BadRequest(f"{where} must be an object.", field=where)
    if raw.get("type") not in NODE_INPUTS:
        raise BadRequest(f"{where}.type must be 'llm' or 'tool'.", field=f"{where}.type")
    if raw["type"] == NodeType.LLM:  # its options are LlmOptions', checked apart with their own messages
        raw = {k: v for k, v in raw.items() if k not in LlmOptions.model_fields}
    return parse(NODE_INPUTS[raw["type"]], raw, prefix=where)


def parse_llm_options(raw: dict, where: str) -> dict:
    """The node config entry for an `llm` node's options; a bad option is a 400 naming its field."""
    try:
        options = LlmOptions.model_validate(raw)
    except ValidationError as exc:
        name = str(exc.errors()[0]["loc"][0])
        raise BadRequest(f"{where}.{name} {RULES[name]}.", field=f"{where}.{name}") from None
    return {"options": options.config()}


def parse_nodes(workspace: Workspace, nodes) -> list[NodeSpec]:
    """Validate a version's node list; every failure names the field, nothing is saved."""
    from .engine.tools import TOOLS

    if not isinstance(nodes, list) or not nodes:
        raise BadRequest("nodes must be a non-empty list of node objects.", field="nodes")
    if len(nodes) > MAX_NODES:
        raise BadRequest(f"nodes holds at most {MAX_NODES} nodes.", field="nodes")
    specs: list[NodeSpec] = []
    seen: set[str] = set()
    prompt_refs: list[tuple[str, str, str]] = []
    model_refs: dict[str, str] = {}
    for index, raw in enumerate(nodes):
        where = f"nodes[{index}]"
        node = _node_input(raw, where)
        if node.id in seen:
            raise BadRequest(
                f"Duplicate node id {node.id!r}: node ids must be unique in a version.", field=f"{where}.id"
            )
        seen.add(node.id)
        if isinstance(node, LlmNodeInput):
            prompt_refs.append((where, node.prompt.artifact_id, node.prompt.content_hash))
            model_refs[where] = node.model
            config: dict = {"prompt": node.prompt.model_dump(), "model": node.model} | parse_llm_options(raw, where)
        elif isinstance(node, ToolNodeInput):
            if node.tool not in TOOLS:
                raise NotFound(
                    f"{where}.tool: unknown tool {node.tool!r}. Known tools: {', '.join(sorted(TOOLS))}.",
                    field=f"{where}.tool",
                )
            config = {"tool": node.tool, "args": node.args}
        specs.append(NodeSpec(node.id, node.type, config, list(node.after), node.policies))

    for index, spec in enumerate(specs):
        for dep in spec.after:
            if dep not in seen:
                raise BadRequest(
                    f"nodes[{index}].after: node {spec.node_id!r} depends on unknown node {dep!r}.",
                    field=f"nodes[{index}].after",
                )
            if dep == spec.node_id:
                raise BadRequest(
                    f"nodes[{index}].after: node {spec.node_id!r} depends on itself.", field=f"nodes[{index}].after"
                )
    execution_order([(s.node_id, s.after) for s in specs])  # raises on a cycle
    _check_references(workspace, model_refs, prompt_refs)
    return specs


def _check_references(
    workspace: Workspace, model_refs: dict[str, str], prompt_refs: list[tuple[str, str, str]]
) -> None:
    """Every model in the catalog and every prompt revision in this workspace: 404 naming the node otherwise."""
    known_models = {m.model_ref for m in CatalogModel.objects.filter(model_ref__in=set(model_refs.values()))}
    for where, ref in model_refs.items():
        if ref not in known_models:
            raise NotFound(
                f"{where}.model: unknown model {ref!r}; use a model ref of the catalog.", field=f"{where}.model"
            )
    if prompt_refs:
        known = set(
            PromptRevision.objects.filter(
                artifact__workspace=workspace, artifact__artifact_id__in={a for _, a, _ in prompt_refs}
            ).values_list("artifact__artifact_id", "content_hash")
        )
        for where, artifact_id, content_hash in prompt_refs:
            if (artifact_id, content_hash) not in known:
                raise NotFound(
                    f"{where}.prompt: {content_hash} is not a revision of prompt artifact {artifact_id} in this workspace.",
                    field=f"{where}.prompt",
                )


def execution_order(nodes: list[tuple[str, list[str]]]) -> list[str]:
    """Kahn's algorithm, ties broken by declaration order, so order is stable."""
    index = {node_id: i for i, (node_id, _) in enumerate(nodes)}
    indegree = {node_id: 0 for node_id, _ in nodes}
    dependents: dict[str, list[str]] = {node_id: [] for node_id, _ in nodes}
    for node_id, after in nodes:
        for dep in after:
            if dep in indegree:
                indegree[node_id] += 1
                dependents[dep].append(node_id)
    ready = [(index[n], n) for n, d in indegree.items() if d == 0]
    ready.sort()
    order: list[str] = []
    while ready:
        _, node_id = heappop(ready)
        order.append(node_id)
        for child in dependents[node_id]:
            indegree[child] -= 1
            if indegree[child] == 0:
                heappush(ready, (index[child], child))
    if len(order) != len(nodes):
        stuck = sorted(n for n, d in indegree.items() if d > 0)
        raise BadRequest(f"nodes contain a dependency cycle through: {', '.join(stuck[:10])}.", field="nodes")
    return order


def build_nodes(version, specs: list[NodeSpec]) -> list[Node]:
    return [
        Node(
            version=version,
            node_id=s.node_id,
            type=s.type,
            position=i,
            config=s.config,
            after=s.after,
            policies=s.policies,
        )
        for i, s in enumerate(specs)
    ]
