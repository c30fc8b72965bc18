"""Workflow graphs: validating node specs and ordering them for execution."""

import re
from dataclasses import dataclass, field
from heapq import heappop, heappush

from .http.errors import BadRequest, NotFound
from .models import CONTENT_HASH_RE, PROMPT_ID_RE, CatalogModel, Node, PromptRevision, Workspace

NODE_ID_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$")
MAX_NODES = 10_000  # the trace viewer and the benchmarks go to 10,000-step runs


@dataclass
class NodeSpec:
    node_id: str
    type: str
    config: dict
    after: list[str]
    policies: dict = field(default_factory=dict)


def _require(obj: dict, key: str, kind: type, where: str):
    value = obj.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        names: dict[type, str] = {str: "a string", dict: "an object", list: "a list"}
        expected = names.get(kind, kind.__name__)
        raise BadRequest(f"{where}.{key} must be {expected}.", field=f"{where}.{key}")
    return value


def parse_nodes(workspace: Workspace, nodes) -> list[NodeSpec]:
    """Validate a version's node list; every failure names the field, nothing is saved."""
    from .engine.llm_options import parse_llm_options
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
        if not isinstance(raw, dict):
            raise BadRequest(f"{where} must be an object.", field=where)
        node_id = _require(raw, "id", str, where)
        if not NODE_ID_RE.match(node_id):
            raise BadRequest(
                f"{where}.id {node_id!r} is malformed: letters, digits, '_', '-' and '.', at most 100 characters.",
                field=f"{where}.id",
            )
        if node_id in seen:
            raise BadRequest(
                f"Duplicate node id {node_id!r}: node ids must be unique in a version.", field=f"{where}.id"
            )
        seen.add(node_id)
        node_type = raw.get("type")
        if node_type not in ("llm", "tool"):
            raise BadRequest(f"{where}.type must be 'llm' or 'tool'.", field=f"{where}.type")
        after = raw.get("after", [])
        if not isinstance(after, list) or not all(isinstance(a, str) for a in after):
            raise BadRequest(f"{where}.after must be a list of node ids.", field=f"{where}.after")
        policies = raw.get("policies") or {}
        if not isinstance(policies, dict):
            raise BadRequest(f"{where}.policies must be an object.", field=f"{where}.policies")
        allow = policies.get("replay", {}).get("allowMutations") if isinstance(policies.get("replay"), dict) else None
        if "replay" in policies and (
            not isinstance(policies["replay"], dict)
            or ("allowMutations" in policies["replay"] and not isinstance(allow, bool))
        ):
            raise BadRequest(
                f"{where}.policies.replay.allowMutations must be true or false.", field=f"{where}.policies"
            )
        if node_type == "llm":
            prompt = _require(raw, "prompt", dict, where)
            artifact_id = _require(prompt, "artifact_id", str, f"{where}.prompt")
            content_hash = _require(prompt, "content_hash", str, f"{where}.prompt")
            if not re.match(PROMPT_ID_RE, artifact_id):
                raise BadRequest(
                    f"{where}.prompt.artifact_id {artifact_id!r} is malformed: expected prompt_ followed by 8 hex digits.",
                    field=f"{where}.prompt.artifact_id",
                )
            if not re.match(CONTENT_HASH_RE, content_hash):
                raise BadRequest(
                    f"{where}.prompt.content_hash is malformed: expected sha256: followed by 64 hex digits.",
                    field=f"{where}.prompt.content_hash",
                )
            model = _require(raw, "model", str, where)
            prompt_refs.append((where, artifact_id, content_hash))
            model_refs[where] = model
            config = {"prompt": {"artifact_id": artifact_id, "content_hash": content_hash}, "model": model}
            config |= parse_llm_options(raw, where)
        else:
            tool = _require(raw, "tool", str, where)
            if tool not in TOOLS:
                raise NotFound(
                    f"{where}.tool: unknown tool {tool!r}. Known tools: {', '.join(sorted(TOOLS))}.",
                    field=f"{where}.tool",
                )
            args = raw.get("args", {})
            if not isinstance(args, dict):
                raise BadRequest(f"{where}.args must be an object.", field=f"{where}.args")
            config = {"tool": tool, "args": args}
        specs.append(NodeSpec(node_id, node_type, config, list(after), policies))

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
    return specs


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
