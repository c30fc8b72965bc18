"""Issue 35's figures: runs whose independent branches execute at once, 1 s a simulated model call."""

from runs import services

from .data import MODEL

LATENCY = "1"  # SIMULATED_LATENCY of the figures' worker: each model call takes 1 s


def workflows(data):
    """Four independent model calls and a join (a records lookup that reads them all, ms), and a graph of four
    layers of five model calls, each layer after the whole layer before it."""
    revision = services.create_prompt(
        workspace=data.workspace, name="branches", content="Think about {{ trigger.name }}"
    )
    prompt = {"artifact_id": revision.artifact.artifact_id, "content_hash": revision.content_hash}

    def llm(node_id, after=()):
        return {"id": node_id, "type": "llm", "model": MODEL, "prompt": prompt, "after": list(after)}

    branches = [llm(f"b{i}") for i in range(4)]
    join = {
        "id": "join",
        "type": "tool",
        "tool": "records.lookup",
        "args": {"kind": "answer", "key": " ".join(f"{{{{ nodes.b{i}.output }}}}" for i in range(4))},
        "after": [b["id"] for b in branches],
    }
    fan = services.create_workflow(workspace=data.workspace, name="Four branches and a join", nodes=[*branches, join])
    layers = [[f"l{layer}n{n}" for n in range(5)] for layer in range(4)]
    nodes = [llm(node_id, layers[i - 1] if i else ()) for i, layer in enumerate(layers) for node_id in layer]
    layered = services.create_workflow(workspace=data.workspace, name="Four layers of five", nodes=nodes)
    return fan.workflow, layered.workflow
