"""Selectors for the prompts a workflow version's LLM nodes use."""

from dataclasses import dataclass

from .engine.plan import prompt_contents, version_plan
from .models import Node, PromptArtifact, PromptRevision, WorkflowVersion


@dataclass(frozen=True)
class VersionPrompt:
    artifact: PromptArtifact
    node_ids: tuple[str, ...]
    content: str  # the revision the first of those nodes uses: what this version would render


def prompts_of_version(version: WorkflowVersion, workspace_id: int) -> list[VersionPrompt]:
    """Each artifact an LLM node of `version` uses, in node order, with the content that node renders."""
    plan = version_plan(version.pk)
    used: dict[str, tuple[str, list[str]]] = {}  # artifact id -> (content hash of its first node, node ids)
    for node in plan:
        prompt = (node.config.get("prompt") or {}) if node.type == Node.Type.LLM else {}
        if "artifact_id" in prompt:
            used.setdefault(prompt["artifact_id"], (prompt.get("content_hash", ""), []))[1].append(node.node_id)
    if not used:
        return []
    artifacts = PromptArtifact.objects.filter(workspace_id=workspace_id, artifact_id__in=used).in_bulk(
        field_name="artifact_id"
    )
    contents = prompt_contents(workspace_id, plan, {})
    return [
        VersionPrompt(
            artifact=artifacts[artifact_id], node_ids=tuple(nodes), content=contents.get((artifact_id, h), "")
        )
        for artifact_id, (h, nodes) in used.items()
        if artifact_id in artifacts
    ]


def revisions_with_uses(artifact: PromptArtifact) -> list[tuple[PromptRevision, list[dict]]]:
    """The artifact's revisions, oldest first, each with the llm nodes (workflow, version, node) that run it:
    two queries, however many versions use it."""
    uses: dict[str, list[dict]] = {}
    nodes = (
        Node.objects.filter(
            version__workflow__workspace_id=artifact.workspace_id,
            type=Node.Type.LLM,
            config__prompt__artifact_id=artifact.artifact_id,
        )
        .order_by("version__workflow__created_at", "version__number", "position")
        .values_list("version__workflow__workflow_id", "version__number", "node_id", "config")
    )
    for workflow_id, number, node_id, config in nodes:
        content_hash = config["prompt"].get("content_hash", "")
        uses.setdefault(content_hash, []).append({"workflow_id": workflow_id, "version": number, "node_id": node_id})
    return [
        (revision, uses.get(revision.content_hash, [])) for revision in artifact.revisions.order_by("created_at", "id")
    ]
