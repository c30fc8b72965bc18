"""Workflows and runs built through the real services, so tests exercise what production does."""

from runs import services
from runs.engine.executor import execute
from runs.models import Run

from .factories import PromptRevisionFactory


def llm(node_id, revision, after=(), model="anthropic:claude-opus-4-7"):
    return {
        "id": node_id,
        "type": "llm",
        "model": model,
        "after": list(after),
        "prompt": {"artifact_id": revision.artifact.artifact_id, "content_hash": revision.content_hash},
    }


def tool(node_id, name, args, after=(), allow=None):
    node = {"id": node_id, "type": "tool", "tool": name, "args": args, "after": list(after)}
    if allow is not None:
        node["policies"] = {"replay": {"allowMutations": allow}}
    return node


def support_workflow(workspace, *, allow_send=None):
    """draft (llm) → notify (messages.send): the smallest workflow with a side effect."""
    revision = PromptRevisionFactory(artifact__workspace=workspace, content="Reply to {{ trigger.name }}")
    version = services.create_workflow(
        workspace=workspace,
        name="Support",
        nodes=[
            llm("draft", revision),
            tool(
                "notify",
                "messages.send",
                {"to": "{{ trigger.email }}", "body": "{{ nodes.draft.output }}"},
                after=["draft"],
                allow=allow_send,
            ),
        ],
    )
    return version, revision


def side_effect_workflow(workspace, *, allow_send=None):
    """draft (llm) → notify (messages.send), and summary (llm) after draft: a rerun from summary reuses notify."""
    revision = PromptRevisionFactory(artifact__workspace=workspace, content="Reply to {{ trigger.name }}")
    return services.create_workflow(
        workspace=workspace,
        name="Side effect",
        nodes=[
            llm("draft", revision),
            tool(
                "notify",
                "messages.send",
                {"to": "{{ trigger.email }}", "body": "{{ nodes.draft.output }}"},
                after=["draft"],
                allow=allow_send,
            ),
            llm("summary", revision, after=["draft"]),
        ],
    )


def chain_workflow(workspace, length=10):
    revision = PromptRevisionFactory(artifact__workspace=workspace, content="Step input: {{ trigger.name }}")
    nodes = [llm("n0", revision)] + [llm(f"n{i}", revision, after=[f"n{i - 1}"]) for i in range(1, length)]
    return services.create_workflow(workspace=workspace, name=f"Chain {length}", nodes=nodes), revision


PAYLOAD = {"name": "Dana", "email": "dana@example.com"}


def new_run(version, **fields) -> Run:
    """A run of `version` as the trigger creates it (pending, not dispatched); `fields` override any column."""
    values = {
        "workspace_id": version.workflow.workspace_id,
        "workflow": version.workflow,
        "version": version,
        "version_number": version.number,
        "trigger_payload": PAYLOAD,
        "steps_total": version.nodes.count(),
        **fields,
    }
    return Run.objects.create(**values)


def finished_run(version, payload=None, **fields) -> Run:
    """A run executed in-process (no worker), for tests about what happens after."""
    run = new_run(version, trigger_payload=payload if payload is not None else PAYLOAD, **fields)
    execute(run.run_id)
    run.refresh_from_db()
    return run


def run_in_status(version, status, **fields) -> Run:
    return new_run(version, status=status, **fields)


def renaming_version(version, *, tool_id="send", body="{{ nodes.compose.output }}"):
    """Version 2 of the support workflow with draft renamed compose and notify renamed `tool_id` (send)."""
    draft = version.nodes.get(node_id="draft").config
    return services.add_version(
        workflow=version.workflow,
        nodes=[
            {"id": "compose", "type": "llm", "prompt": draft["prompt"], "model": draft["model"]},
            tool(tool_id, "messages.send", {"to": "{{ trigger.email }}", "body": body}, after=["compose"]),
        ],
    )


def submit_replay(*, user, run: Run, request: dict, idempotency_key: str = ""):
    """Replay `run` as `user` through the service, as the command does: rule 1 finds the user's membership."""
    from replay import services
    from replay.rules import membership_for_replay

    return services.submit_replay(
        membership=membership_for_replay(user, run.workspace_id),
        run_id=run.pk,
        fields=request,
        idempotency_key=idempotency_key,
    )


def executed_replay(*, user, run: Run, request: dict) -> Run:
    """A replay submitted and executed in-process."""
    new = submit_replay(user=user, run=run, request=request).run
    execute(new.run_id)
    new.refresh_from_db()
    return new


def new_prompt_replay(*, user, run: Run, content="Be brief with {{ trigger.name }}") -> Run:
    """A replay of `run` executed with a new revision of its `draft` node's prompt."""
    draft = run.version.nodes.get(node_id="draft").config["prompt"]
    artifact = run.workspace.prompt_artifacts.get(artifact_id=draft["artifact_id"])
    newer = services.add_prompt_revision(artifact=artifact, content=content)
    request = {"mode": "prompt", "prompt_artifact_id": draft["artifact_id"], "content_hash": newer.content_hash}
    return executed_replay(user=user, run=run, request=request)
