"""Which prompt artifact and revision each LLM step of a trace ran with: its name, id and revision number."""

from dataclasses import dataclass
from datetime import datetime

from django.utils.html import format_html
from django.utils.safestring import SafeString

from runs.engine.plan import version_plan
from runs.models import NodeType, PromptRevision, Run, Step

# The artifact's name and id, the revision's number and date, and the way to replay another revision of it.
PROMPT = (
    '<dt>Prompt</dt><dd><span class="prompt-name">{name}</span> <span class="mono">{artifact_id}</span>'
    " · revision {number} of {count} ({created})"
    ' <button type="button" class="link js-replay-prompt" data-artifact="{artifact_id}">'
    "Replay with another revision of this prompt</button></dd>"
)
PROMPT_HASH = '<dt>Prompt hash</dt><dd class="mono">{}</dd>'


@dataclass(frozen=True)
class StepPrompt:
    artifact_id: str
    name: str
    number: int  # 1 for the artifact's first revision
    count: int
    created_at: datetime


def step_prompts(run: Run, steps: list[Step]) -> dict[int, StepPrompt]:
    """The prompt revision of each LLM step of `steps`, by step pk: one query for the page.

    The artifact is the one the step's node names in the run's version (a prompt replay overrides the
    revision, never the artifact); a run whose version was deleted names none.
    """
    llm_steps = [s for s in steps if s.type == NodeType.LLM and s.prompt_hash]
    if not llm_steps or run.version_id is None:
        return {}
    artifact_of = {
        n.node_id: n.config["prompt"]["artifact_id"] for n in version_plan(run.version_id) if n.type == NodeType.LLM
    }
    wanted = {artifact_of[s.node_id] for s in llm_steps if s.node_id in artifact_of}
    if not wanted:
        return {}
    rows = PromptRevision.objects.filter(
        artifact__workspace_id=run.workspace_id, artifact__artifact_id__in=wanted
    ).values_list("artifact__artifact_id", "artifact__name", "content_hash", "created_at")
    by_artifact: dict[str, list[tuple[str, str, datetime]]] = {}
    for artifact_id, name, content_hash, created_at in rows.order_by("created_at", "id"):
        by_artifact.setdefault(artifact_id, []).append((name, content_hash, created_at))
    found = {}
    for step in llm_steps:
        revisions = by_artifact.get(artifact_of.get(step.node_id, ""), [])
        for number, (name, content_hash, created_at) in enumerate(revisions, start=1):
            if content_hash == step.prompt_hash:
                found[step.pk] = StepPrompt(artifact_of[step.node_id], name, number, len(revisions), created_at)
    return found


def prompt_block(step: Step, prompt: StepPrompt | None) -> SafeString:
    """The trace row's prompt lines: the artifact and revision when known, and the hash."""
    if not step.prompt_hash:
        return SafeString("")
    hash_line = format_html(PROMPT_HASH, step.prompt_hash)
    if prompt is None:
        return hash_line
    named = format_html(
        PROMPT,
        name=prompt.name,
        artifact_id=prompt.artifact_id,
        number=prompt.number,
        count=prompt.count,
        created=prompt.created_at.strftime("%Y-%m-%d %H:%M"),
    )
    return format_html("{}{}", named, hash_line)
