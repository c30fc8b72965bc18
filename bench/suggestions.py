"""Suggested targets for a 200-node version pair with 50 renamed nodes (issue 32): target <= 200 ms.

The pair looks like a real workflow's: llm nodes with prompts of their own (a few share an artifact and a
model), tool nodes of five tools, a DAG with one or two upstream nodes each; version 2 renames 50 nodes, edits
the prompt or arguments of 15 of them, and adds and removes a few. `python -m bench.suggestions` measures it alone.
"""

import hashlib
import random

TOOLS = ("records.lookup", "records.create", "messages.send", "http.get", "http.post")
MODELS = ("anthropic:claude-sonnet-4-5", "anthropic:claude-opus-4-7", "openai:gpt-5-mini")
WORDS = [
    "customer",
    "order",
    "refund",
    "reply",
    "summary",
    "ticket",
    "priority",
    "delivery",
    "invoice",
    "account",
    "tone",
    "policy",
    "answer",
]


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)) + " {{ trigger.message }}"


def _llm(node_id, after, rng, artifact, text):
    from mappings.suggestions import NodeDef

    prompt = {"artifact_id": artifact, "content_hash": "sha256:" + hashlib.sha256(text.encode()).hexdigest()}
    return NodeDef(node_id, "llm", {"prompt": prompt, "model": rng.choice(MODELS)}, tuple(after), text)


def version_pair(nodes: int = 200, renamed: int = 50, seed: int = 32):
    """(source, target, renamed node ids, {renamed: true target or None})."""
    from mappings.suggestions import NodeDef  # after django.setup(): the module reads the models

    rng = random.Random(seed)
    source: list = []
    for i in range(nodes):
        after = tuple(sorted({f"node_{rng.randrange(i)}" for _ in range(rng.randint(1, 2))})) if i else ()
        if rng.random() < 0.6:
            artifact = f"prompt_{rng.randrange(nodes // 2):08x}"
            source.append(_llm(f"node_{i}", after, rng, artifact, _text(rng, 30)))
        else:
            args = {"key": f"{{{{ trigger.{rng.choice(WORDS)} }}}}", "kind": rng.choice(WORDS)}
            source.append(NodeDef(f"node_{i}", "tool", {"tool": rng.choice(TOOLS), "args": args}, after))
    chosen = rng.sample(range(1, nodes), renamed)
    names = {f"node_{i}": f"step_{i}_{rng.choice(WORDS)}" for i in chosen}
    removed = set(rng.sample(sorted(names), 3))
    truth = {old: (None if old in removed else new) for old, new in names.items()}
    target = []
    for k, node in enumerate(source):
        if node.node_id in removed:
            continue
        after = tuple(names.get(a, a) for a in node.after if a not in removed)
        config, text = node.config, node.prompt_text
        if node.node_id in names and k % 3 == 0:  # edited as well as renamed
            if node.type == "llm":
                text = (text or "") + " Be brief."
                digest = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
                config = {**config, "prompt": {**config["prompt"], "content_hash": digest}}
            else:
                config = {**config, "args": {**config["args"], "channel": "{{ trigger.channel }}"}}
        target.append(NodeDef(names.get(node.node_id, node.node_id), node.type, config, after, text))
    for j in range(3):
        target.append(_llm(f"added_{j}", (target[-1].node_id,), rng, f"prompt_{nodes + j:08x}", _text(rng, 30)))
    return source, target, sorted(names), truth


if __name__ == "__main__":
    import os
    import statistics

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from mappings.suggestions import suggest

    from .figures import repeat

    source, target, renamed, truth = version_pair()
    found = suggest(source, target, renamed)
    right = sum(found[n].candidates[0].target == t for n, t in truth.items() if t and found[n].candidates)
    samples = repeat(lambda: suggest(source, target, renamed), 20)
    print(
        f"suggestions, 200-node pair, 50 renamed: median {statistics.median(samples) * 1000:.1f} ms, "
        f"max {max(samples) * 1000:.1f} ms (target <= 200 ms); top-1 right {right}/{sum(1 for t in truth.values() if t)}"
    )
