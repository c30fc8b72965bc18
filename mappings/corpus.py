"""The accuracy corpus of node suggestions: version pairs with known answers, made from the test workflows.

Each pair is a base workflow (the demo's, the tests' support and chain workflows, two larger ones) and a next
version made by renaming nodes, editing their prompts or arguments, moving them, adding and removing nodes, or
renaming a node and editing it at once. `build_corpus()` is deterministic; its output is committed as
`mappings/fixtures/suggestion_corpus.json` (a test keeps the two equal) and read by
`manage.py mapping_suggestion_accuracy`.
"""

import copy
import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

from .suggestions import REFERENCE, NodeDef

CORPUS_PATH = Path(__file__).parent / "fixtures" / "suggestion_corpus.json"
SONNET, OPUS, MINI = "anthropic:claude-sonnet-4-5", "anthropic:claude-opus-4-7", "openai:gpt-5-mini"

SYNONYMS = {
    "lookup": ["fetch_customer", "customer_lookup"],
    "classify": ["triage", "categorise"],
    "draft": ["compose_reply", "write_answer"],
    "notify": ["send_message", "email_customer"],
    "log_ticket": ["record_ticket", "create_ticket"],
    "fetch": ["download", "get_page"],
    "extract": ["parse_facts", "pull_facts"],
    "summarise": ["summarize", "digest"],
    "critique": ["review", "assess"],
    "revise": ["rewrite", "finalise"],
    "store": ["save_report", "persist"],
    "post": ["webhook", "publish"],
    "lookup_customer": ["customer", "find_customer"],
    "lookup_order": ["order", "find_order"],
    "sentiment": ["mood", "tone_check"],
    "route": ["assign_team", "dispatch"],
    "reply": ["answer", "respond"],
    "send": ["deliver", "send_reply"],
    "escalate": ["page_oncall", "raise_alert"],
    "log": ["audit", "record"],
}
EDITS = [
    ("short", "brief"),
    ("polite", "friendly"),
    ("Classify", "Categorise"),
    ("Summarise", "Condense"),
    ("reply", "answer"),
    ("request", "message"),
    ("the", "this"),
    ("List", "Enumerate"),
]
ADDED_PROMPT = "Check the tone of {{ trigger.message }} and flag anything rude before it is sent."


@dataclass
class Case:
    name: str
    source: list[dict]
    target: list[dict]
    renamed: list[str]
    truth: dict[str, str | None]

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "source": self.source,
            "target": self.target,
            "renamed": self.renamed,
            "truth": self.truth,
        }


def node_defs(nodes: list[dict]) -> list[NodeDef]:
    return [NodeDef(n["id"], n["type"], n["config"], tuple(n["after"]), n.get("prompt_text")) for n in nodes]


def _hash(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _llm(node_id, text, model, after=(), artifact=None, **options):
    artifact = artifact or "prompt_" + hashlib.sha256(node_id.encode()).hexdigest()[:8]
    config = {"prompt": {"artifact_id": artifact, "content_hash": _hash(text)}, "model": model, **options}
    return {"id": node_id, "type": "llm", "after": list(after), "config": config, "prompt_text": text}


def _tool(node_id, tool, args, after=()):
    return {"id": node_id, "type": "tool", "after": list(after), "config": {"tool": tool, "args": args}}


def _ref(node_id):
    return "{{ nodes." + node_id + ".output }}"


def base_workflows() -> dict[str, list[dict]]:
    return {
        "demo": [
            _tool("lookup", "records.lookup", {"kind": "customer", "key": "{{ trigger.customer_id }}"}),
            _llm(
                "classify",
                "Classify this support request from {{ trigger.customer_name }}: {{ trigger.message }}",
                SONNET,
                ["lookup"],
                max_tokens=400,
            ),
            _llm(
                "draft",
                "Write a short, polite reply to {{ trigger.customer_name }} about: {{ trigger.message }}",
                OPUS,
                ["classify"],
                max_tokens=400,
            ),
            _tool("notify", "messages.send", {"to": "{{ trigger.email }}", "body": _ref("draft")}, ["draft"]),
            _tool(
                "log_ticket",
                "records.create",
                {"kind": "ticket", "data": {"customer": "{{ trigger.customer_id }}", "category": _ref("classify")}},
                ["notify"],
            ),
        ],
        "support": [
            _llm("draft", "Reply to {{ trigger.name }}", OPUS),
            _tool("notify", "messages.send", {"to": "{{ trigger.email }}", "body": _ref("draft")}, ["draft"]),
        ],
        "chain": [
            _llm(
                f"n{i}", "Step input: {{ trigger.name }}", OPUS, [f"n{i - 1}"] if i else [], artifact="prompt_c4a10000"
            )
            for i in range(6)
        ],
        "research": [
            _tool("fetch", "http.get", {"url": "{{ trigger.url }}"}),
            _llm("extract", "List the facts stated in this page: " + _ref("fetch"), SONNET, ["fetch"]),
            _llm("summarise", "Summarise these facts in five bullet points: " + _ref("extract"), OPUS, ["extract"]),
            _llm(
                "critique",
                "List what the summary gets wrong or leaves out: " + _ref("summarise"),
                SONNET,
                ["summarise"],
            ),
            _llm(
                "revise",
                "Rewrite the summary " + _ref("summarise") + " fixing these points: " + _ref("critique"),
                OPUS,
                ["summarise", "critique"],
            ),
            _tool("store", "records.create", {"kind": "report", "data": {"body": _ref("revise")}}, ["revise"]),
            _tool("notify", "messages.send", {"to": "{{ trigger.email }}", "body": _ref("revise")}, ["revise"]),
            _tool("post", "http.post", {"url": "{{ trigger.hook }}", "json": {"report": _ref("revise")}}, ["revise"]),
        ],
        "fanout": [
            _tool("lookup_customer", "records.lookup", {"kind": "customer", "key": "{{ trigger.customer_id }}"}),
            _tool("lookup_order", "records.lookup", {"kind": "order", "key": "{{ trigger.order_id }}"}),
            _llm(
                "classify",
                "Classify the request {{ trigger.message }} for customer " + _ref("lookup_customer"),
                SONNET,
                ["lookup_customer", "lookup_order"],
            ),
            _llm("sentiment", "Rate the sentiment of {{ trigger.message }} from 1 to 5.", MINI, ["lookup_customer"]),
            _llm(
                "route",
                "Pick the team for category " + _ref("classify") + " and sentiment " + _ref("sentiment"),
                MINI,
                ["classify", "sentiment"],
            ),
            _llm(
                "reply",
                "Write the reply for order " + _ref("lookup_order") + " handled by " + _ref("route"),
                OPUS,
                ["route"],
            ),
            _tool("send", "messages.send", {"to": "{{ trigger.email }}", "body": _ref("reply")}, ["reply"]),
            _tool("escalate", "http.post", {"url": "{{ trigger.pager }}", "json": {"team": _ref("route")}}, ["route"]),
            _tool("log", "records.create", {"kind": "ticket", "data": {"team": _ref("route")}}, ["send", "escalate"]),
        ],
    }


def _find(nodes, node_id):
    return next(n for n in nodes if n["id"] == node_id)


def _rewrite_references(node: dict, old: str, new: str | None) -> None:
    def sub(match):
        if match.group(2) != old:
            return match.group(0)
        return match.group(1) + new + match.group(3) if new else "{{ trigger.message }}"

    node["config"] = json.loads(REFERENCE.sub(sub, json.dumps(node["config"])))
    if node.get("prompt_text"):
        node["prompt_text"] = REFERENCE.sub(sub, node["prompt_text"])
        node["config"]["prompt"]["content_hash"] = _hash(node["prompt_text"])


def _rename(nodes, old, new):
    for node in nodes:
        if node["id"] == old:
            node["id"] = new
        node["after"] = [new if a == old else a for a in node["after"]]
        _rewrite_references(node, old, new)


def _new_name(rng, nodes, node_id):
    taken = {n["id"] for n in nodes}
    choices = [*SYNONYMS.get(node_id, []), node_id + "_v2", "".join(w.title() for w in node_id.split("_"))]
    choices = [c for c in choices if c not in taken and c != node_id]
    return rng.choice(choices)


def _edit_prompt(rng, node, strength):
    words = node["prompt_text"].split(" ")
    for _ in range(strength):
        i = rng.randrange(len(words))
        if "{{" not in words[i] and "}}" not in words[i]:
            words[i] = rng.choice(["carefully", "now", "please", "briefly", words[i].upper()])
    text = " ".join(words)
    for old, new in EDITS:
        if old in text and rng.random() < 0.5:
            text = text.replace(old, new, 1)
    node["prompt_text"] = text
    node["config"]["prompt"]["content_hash"] = _hash(text)


def _edit_args(rng, node):
    args = node["config"]["args"]
    key = rng.choice(sorted(args))
    args["extra" if rng.random() < 0.5 else key] = "{{ trigger.channel }}"


def _remove(nodes, node_id):
    gone = _find(nodes, node_id)
    nodes.remove(gone)
    for node in nodes:
        if node_id in node["after"]:
            node["after"] = [a for a in node["after"] if a != node_id] + [
                a for a in gone["after"] if a not in node["after"]
            ]
        _rewrite_references(node, node_id, gone["after"][0] if gone["after"] else None)


class _Builder:
    def __init__(self, base_name, base, seed):
        self.rng = random.Random(f"{base_name}/{seed}")
        self.source = copy.deepcopy(base)
        self.target = copy.deepcopy(base)
        self.truth: dict[str, str | None] = {}

    def pick(self, kind=None, exclude=()):
        ids = [n["id"] for n in self.source if (kind is None or n["type"] == kind) and n["id"] not in exclude]
        ids = [i for i in ids if i not in self.truth]
        return self.rng.choice(ids) if ids else None

    def rename(self, node_id):
        new = _new_name(self.rng, self.target, node_id)
        _rename(self.target, node_id, new)
        self.truth[node_id] = new
        return new

    def rename_one(self, kind=None):
        """Rename a node not yet changed (of `kind`); its new node in the target, or None when none is left."""
        node_id = self.pick(kind)
        return None if node_id is None else self.node(self.rename(node_id))

    def remove(self, node_id):
        _remove(self.target, node_id)
        self.truth[node_id] = None

    def node(self, new_id):
        return _find(self.target, new_id)


def _scenarios():
    """(name, steps) where steps(builder) mutates builder.target; each returns False when it does not apply."""

    def rename(k):
        def steps(b):
            for _ in range(k):
                node_id = b.pick()
                if node_id is None:
                    return False
                b.rename(node_id)
            return True

        return steps

    def rename_edit_prompt(strength):
        def steps(b):
            node = b.rename_one("llm")
            if node is None:
                return False
            _edit_prompt(b.rng, node, strength)
            return True

        return steps

    def rename_edit_args(b):
        node = b.rename_one("tool")
        if node is None:
            return False
        _edit_args(b.rng, node)
        return True

    def rename_model(b):
        node = b.rename_one("llm")
        if node is None:
            return False
        node["config"]["model"] = MINI if node["config"]["model"] != MINI else OPUS
        return True

    def rename_move(b):
        node_id = b.pick()
        if node_id is None or len(b.source) < 3:
            return False
        new = b.rename(node_id)
        node = b.node(new)
        ancestors = {n["id"] for n in b.target if new in n["after"]}
        choices = [n["id"] for n in b.target if n["id"] != new and n["id"] not in ancestors]
        choices = [c for c in choices if [c] != node["after"] and _ancestor_free(b.target, c, new)]
        if not choices:
            return False
        node["after"] = [b.rng.choice(choices)]
        return True

    def rename_move_edit(b):
        if not rename_move(b):
            return False
        node = b.node(next(iter(b.truth.values())))
        if node["type"] == "llm":
            _edit_prompt(b.rng, node, 3)
        else:
            _edit_args(b.rng, node)
        return True

    def rename_beside_a_copy(b):
        node = b.rename_one()
        if node is None:
            return False
        copy_ = copy.deepcopy(node)
        copy_["id"] = "copy_of_" + node["id"]
        copy_["after"] = [b.target[-1]["id"]] if b.target[-1]["id"] != node["id"] else []
        b.target.append(copy_)
        return True

    def add_and_rename(b):
        node_id = b.pick()
        if node_id is None:
            return False
        b.rename(node_id)
        anchor = b.rng.choice([n["id"] for n in b.target])
        b.target.append(_llm("tone_check", ADDED_PROMPT, MINI, [anchor]))
        b.target.append(_tool("audit_log", "records.create", {"kind": "audit", "data": {"by": "bot"}}, [anchor]))
        return True

    def remove_one(b):
        node_id = b.pick()
        if node_id is None or len(b.source) < 3:
            return False
        b.remove(node_id)
        return True

    def remove_and_rename(b):
        if not remove_one(b):
            return False
        node_id = b.pick()
        if node_id is None:
            return False
        b.rename(node_id)
        return True

    def rename_edit_with_distractor(b):
        node = b.rename_one("llm")
        if node is None:
            return False
        node_id = next(s for s, t in b.truth.items() if t == node["id"])
        _edit_prompt(b.rng, node, 2)
        twin = copy.deepcopy(node)
        twin["id"] = "second_opinion"
        twin["after"] = [b.source[0]["id"]] if b.source[0]["id"] != node_id else []
        _edit_prompt(b.rng, twin, 8)
        b.target.append(twin)
        return True

    return [
        ("rename one", rename(1)),
        ("rename two", rename(2)),
        ("rename three", rename(3)),
        ("rename and edit the prompt lightly", rename_edit_prompt(2)),
        ("rename and edit the prompt heavily", rename_edit_prompt(6)),
        ("rename and edit the arguments", rename_edit_args),
        ("rename and change the model", rename_model),
        ("rename and move", rename_move),
        ("add nodes and rename one", add_and_rename),
        ("remove one", remove_one),
        ("remove one and rename another", remove_and_rename),
        ("rename and edit, beside a similar new node", rename_edit_with_distractor),
        ("rename, move and edit", rename_move_edit),
        ("rename, beside a new copy of the node", rename_beside_a_copy),
    ]


def _ancestor_free(nodes, candidate, node_id):
    """Whether `candidate` does not (transitively) run after `node_id`: moving there keeps the graph acyclic."""
    by_id = {n["id"]: n for n in nodes}
    stack, seen = [candidate], set()
    while stack:
        current = stack.pop()
        if current == node_id:
            return False
        if current not in seen:
            seen.add(current)
            stack.extend(by_id[current]["after"])
    return True


def build_corpus(seeds: int = 2) -> list[Case]:
    cases = []
    for base_name, base in base_workflows().items():
        for scenario, steps in _scenarios():
            for seed in range(seeds):
                builder = _Builder(base_name, base, f"{scenario}/{seed}")
                if not steps(builder) or not builder.truth:
                    continue
                source_ids = [n["id"] for n in builder.source]
                target_ids = {n["id"] for n in builder.target}
                renamed = [n for n in source_ids if n not in target_ids]
                cases.append(
                    Case(f"{base_name}: {scenario} #{seed}", builder.source, builder.target, renamed, builder.truth)
                )
    return cases


def load_corpus() -> list[Case]:
    return [Case(**c) for c in json.loads(CORPUS_PATH.read_text())]


def write_corpus() -> None:
    CORPUS_PATH.parent.mkdir(exist_ok=True)
    # One case a line: reviewable in a diff, a third of the size of an indented file.
    lines = ",\n".join(json.dumps(c.as_json(), sort_keys=True, ensure_ascii=False) for c in build_corpus())
    CORPUS_PATH.write_text("[\n" + lines + "\n]\n")


@dataclass
class Accuracy:
    pairs: int
    renamed: int
    preselected: int
    preselected_right: int
    with_target: int
    top1_right: int
    wrong: list[str]

    @property
    def precision(self) -> float:
        """Of the preselected targets, the share that is the true target (a removed node has none)."""
        return self.preselected_right / self.preselected if self.preselected else 1.0

    @property
    def recall(self) -> float:
        """Of the renamed nodes that have a true target, the share preselected on it."""
        return self.preselected_right / self.with_target if self.with_target else 1.0

    @property
    def top1(self) -> float:
        """Of the renamed nodes that have a true target, the share whose first candidate is it."""
        return self.top1_right / self.with_target if self.with_target else 1.0


def measure(cases: list[Case]) -> Accuracy:
    from .suggestions import suggest

    result = Accuracy(len(cases), 0, 0, 0, 0, 0, [])
    for case in cases:
        suggestions = suggest(node_defs(case.source), node_defs(case.target), case.renamed)
        for node_id in case.renamed:
            truth = case.truth.get(node_id)
            found = suggestions[node_id]
            first = found.candidates[0] if found.candidates else None
            result.renamed += 1
            result.with_target += truth is not None
            if found.preselected is not None:
                result.preselected += 1
                result.preselected_right += found.preselected == truth
            result.top1_right += truth is not None and first is not None and first.target == truth
            if (found.preselected not in (None, truth)) or (
                truth is not None and (first is None or first.target != truth)
            ):
                offered = f"{first.target} ({first.confidence:.2f}: {'; '.join(first.reasons)})" if first else "nothing"
                chosen = f"preselected {found.preselected}" if found.preselected else "not preselected"
                result.wrong.append(f"{case.name}: {node_id} → {truth or '(removed)'}; offered {offered}, {chosen}")
    return result
