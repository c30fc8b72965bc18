"""Suggested targets for renamed nodes: ranked by definition, graph position and (to break ties) name.

`suggest` is pure (node descriptions in, suggestions out) so the accuracy corpus and the bench run it without
a database; `suggestions_for` loads two versions and their prompt texts and calls it. A suggestion is only
ever a default in the mapping dialog: a person saves the mapping.
"""

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.conf import settings
from pydantic import Field, RootModel
from rapidfuzz import fuzz

from runs.http.openapi import Closed
from runs.models import Node, PromptRevision

PRESELECT_GAP = 0.15  # the next candidate must be at least this far below a preselected one
CANDIDATE_FLOOR = 0.15  # below this a target is not offered at all
ANCHOR_MIN = 0.5  # an assigned pair this confident counts as a matched neighbour in the next round
MAX_ROUNDS = 4
MAX_CANDIDATES = 5
# Comparisons of a renamed node with a target node, at most, in one block of alike nodes (same type, then
# same prompt artifact or tool): past it (hundreds of copies of one node) the block gets no suggestions.
MAX_COMPARISONS = 5_000
# Weights of the signals; name similarity is a tie-breaker, so it only counts beside another signal.
W_DEFINITION, W_GRAPH, W_NAME = 0.75, 0.2, 0.05
# A definition that is only similar scores at most this much of an identical one.
SIMILAR_CAP = 0.93

REFERENCE = re.compile(r"(\{\{\s*nodes\.)([A-Za-z0-9_.\-]+?)(\.output\s*\}\})")
CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
UNKNOWN = "?"


class Candidate(Closed):
    target: str
    confidence: float = Field(ge=0, le=1)
    reasons: list[str]


class NodeSuggestions(Closed):
    """Candidates for one renamed node, best first; `preselected` only when the first is sure and alone."""

    preselected: str | None
    candidates: list[Candidate]


class SuggestionMap(RootModel[dict[str, NodeSuggestions]]):
    """`{"<renamed node id>": {"preselected", "candidates"}}`."""


@dataclass(frozen=True)
class NodeDef:
    """A node as the suggester reads it; `prompt_text` is the llm prompt revision's content when known."""

    node_id: str
    type: str
    config: Mapping
    after: tuple[str, ...] = ()
    prompt_text: str | None = None

    @classmethod
    def of(cls, node: Node, prompt_texts: Mapping[tuple[str, str], str]) -> "NodeDef":
        prompt = node.config.get("prompt") or {}
        text = prompt_texts.get((prompt.get("artifact_id", ""), prompt.get("content_hash", "")))
        return cls(node.node_id, node.type, node.config, tuple(node.after), text)


@dataclass
class _Score:
    confidence: float
    reasons: list[str] = field(default_factory=list)


def _canonical(config: Mapping, rename) -> str:
    """The definition as one string, references to other nodes rewritten by `rename` (id -> id or '?')."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return REFERENCE.sub(lambda m: m.group(1) + rename(m.group(2)) + m.group(3), text)


def _words(node_id: str) -> str:
    return " ".join(re.split(r"[\s_.\-]+", CAMEL.sub(" ", node_id).lower())).strip()


def name_similarity(a: str, b: str) -> float:
    """Snake/camel-insensitive normalised edit similarity in [0, 1]."""
    return fuzz.ratio(_words(a), _words(b)) / 100


class _Graph:
    def __init__(self, nodes: Iterable[NodeDef]):
        self.nodes = {n.node_id: n for n in nodes}
        self.preds = {n.node_id: set(n.after) for n in self.nodes.values()}
        self.succs: dict[str, set[str]] = {n: set() for n in self.nodes}
        for node in self.nodes.values():
            for dep in node.after:
                if dep in self.succs:
                    self.succs[dep].add(node.node_id)


def _options(config: Mapping, *skip: str) -> dict:
    return {k: v for k, v in config.items() if k not in skip}


def _definition(s: NodeDef, t: NodeDef, s_text: str, t_text: str) -> tuple[float, list[str]]:
    """How alike two definitions of the same type are, in [0, 1], with the reasons."""
    if s_text == t_text:
        return 1.0, ["identical definition"]
    if s.type == Node.Type.LLM:
        s_prompt, t_prompt = s.config.get("prompt") or {}, t.config.get("prompt") or {}
        same_artifact = s_prompt.get("artifact_id") == t_prompt.get("artifact_id")
        same_model = s.config.get("model") == t.config.get("model")
        if s_prompt == t_prompt:
            content = 1.0
        elif s.prompt_text is not None and t.prompt_text is not None:
            content = fuzz.ratio(s.prompt_text, t.prompt_text) / 100
        else:
            content = 0.0
        options = 1.0 if _options(s.config, "prompt", "model") == _options(t.config, "prompt", "model") else 0.5
        score = 0.35 * same_artifact + 0.15 * same_model + 0.4 * content + 0.1 * options
        reasons = []
        if same_artifact:
            reasons.append(f"same prompt {s_prompt.get('artifact_id')}")
        if same_model:
            reasons.append(f"same model {s.config.get('model')}")
        if content == 1.0:
            reasons.append("same prompt text")
        elif content >= 0.5:
            reasons.append(f"prompt {round(content * 100)} % similar")
        if not (same_artifact or same_model or content >= 0.5):
            return 0.0, []
        return SIMILAR_CAP * score, reasons
    tool = s.config.get("tool")
    if tool != t.config.get("tool"):
        return 0.0, []
    args = fuzz.ratio(s_text, t_text) / 100
    reasons = [f"same tool {tool}"]
    if args >= 0.5:
        reasons.append(f"arguments {round(args * 100)} % similar")
    return SIMILAR_CAP * (0.45 + 0.55 * args), reasons


def _block_key(node: NodeDef) -> str:
    prompt = node.config.get("prompt") or {}
    return f"{node.type}:{prompt.get('artifact_id') or node.config.get('tool')}"


def _neighbours(mine: set[str], theirs: set[str], anchors: Mapping[str, str]) -> tuple[list[str], int]:
    matched = sorted(anchors[n] for n in mine if n in anchors and anchors[n] in theirs)
    return matched, max(len(mine), len(theirs))


class _Suggester:
    def __init__(self, source: Iterable[NodeDef], target: Iterable[NodeDef], renamed: list[str], mapped):
        self.src, self.tgt = _Graph(source), _Graph(target)
        self.fixed = {n: n for n in set(self.src.nodes) & set(self.tgt.nodes)}
        self.fixed |= {s: t for s, t in mapped.items() if s in self.src.nodes and t in self.tgt.nodes}
        self.renamed = [n for n in renamed if n in self.src.nodes and n not in self.fixed]
        taken = set(self.fixed.values())
        self.free = [n for n in self.tgt.nodes if n not in taken]
        self.pool = self._blocks()
        self.definitions: dict[tuple[str, str, str, str], tuple[float, list[str]]] = {}
        words = {n: _words(n) for n in [*self.renamed, *self.free]}
        self.names = {(s, t): fuzz.ratio(words[s], words[t]) / 100 for s in self.renamed for t in self.pool[s]}

    def _blocks(self) -> dict[str, list[str]]:
        """The target nodes each renamed node is compared with: its type's, or its artifact's or tool's."""
        pool: dict[str, list[str]] = {}
        for keyed in (lambda n: n.type, _block_key):
            sources: dict[str, list[str]] = {}
            targets: dict[str, list[str]] = {}
            for s in self.renamed:
                if s not in pool:
                    sources.setdefault(keyed(self.src.nodes[s]), []).append(s)
            for t in self.free:
                targets.setdefault(keyed(self.tgt.nodes[t]), []).append(t)
            for key, group in sources.items():
                if len(group) * len(targets.get(key, ())) <= MAX_COMPARISONS:
                    pool.update((s, targets.get(key, [])) for s in group)
        return {s: pool.get(s, []) for s in self.renamed}

    def score(self, anchors: Mapping[str, str]) -> dict[str, dict[str, _Score]]:
        anchored_targets = set(anchors.values())
        src_text = {s: _canonical(self.src.nodes[s].config, lambda x: anchors.get(x, UNKNOWN)) for s in self.renamed}
        tgt_text = {
            t: _canonical(self.tgt.nodes[t].config, lambda x: x if x in anchored_targets else UNKNOWN)
            for t in self.free
        }
        scores: dict[str, dict[str, _Score]] = {}
        for s in self.renamed:
            s_node = self.src.nodes[s]
            row: dict[str, _Score] = {}
            for t in self.pool[s]:
                t_node = self.tgt.nodes[t]
                key = (s, t, src_text[s], tgt_text[t])  # a later round only changes texts that name moved nodes
                if key not in self.definitions:
                    self.definitions[key] = _definition(s_node, t_node, src_text[s], tgt_text[t])
                definition, reasons = self.definitions[key][0], list(self.definitions[key][1])
                up, up_n = _neighbours(self.src.preds[s], self.tgt.preds[t], anchors)
                down, down_n = _neighbours(self.src.succs[s], self.tgt.succs[t], anchors)
                graph = (len(up) + len(down)) / (up_n + down_n) if up_n + down_n else 0.0
                if not definition and not graph:
                    continue
                if up:
                    reasons.append("same upstream " + ", ".join(up[:3]))
                if down:
                    reasons.append("same downstream " + ", ".join(down[:3]))
                name = self.names[s, t]
                if name >= 0.6:
                    reasons.append(f"similar name ({round(name * 100)} %)")
                confidence = W_DEFINITION * definition + W_GRAPH * graph + W_NAME * name
                if confidence >= CANDIDATE_FLOOR:
                    row[t] = _Score(round(min(confidence, 1.0), 4), reasons)
            scores[s] = row
        return scores

    def run(self) -> dict[str, NodeSuggestions]:
        anchors = dict(self.fixed)
        assigned: dict[str, str] = {}
        for _ in range(MAX_ROUNDS):
            scores = self.score(anchors)
            new = assign({s: {t: sc.confidence for t, sc in row.items()} for s, row in scores.items()})
            if new == assigned:
                break
            assigned = new
            anchors = dict(self.fixed) | {s: t for s, t in new.items() if scores[s][t].confidence >= ANCHOR_MIN}
        return self.suggestions(scores, assigned)

    def suggestions(self, scores, assigned: dict[str, str]) -> dict[str, NodeSuggestions]:
        by_target: dict[str, list[tuple[str, float]]] = {}
        for source, row in scores.items():
            for t, sc in row.items():
                by_target.setdefault(t, []).append((source, sc.confidence))
        out = {}
        for s in self.renamed:
            row = scores[s]
            first = assigned.get(s)
            order = sorted(row, key=lambda t: (t != first, -row[t].confidence, t))[:MAX_CANDIDATES]
            preselected = None
            if first is not None:
                best = row[first].confidence
                rivals = [row[t].confidence for t in row if t != first]
                rivals += [c for other, c in by_target[first] if other != s]  # other sources wanting the target
                if best >= settings.MAPPING_SUGGEST_MIN and all(r <= best - PRESELECT_GAP for r in rivals):
                    preselected = first
            out[s] = NodeSuggestions(
                preselected=preselected,
                candidates=[
                    Candidate(target=t, confidence=round(row[t].confidence, 2), reasons=row[t].reasons) for t in order
                ],
            )
        return out


def suggest(
    source: Iterable[NodeDef], target: Iterable[NodeDef], renamed: list[str], mapped: Mapping[str, str] | None = None
) -> dict[str, NodeSuggestions]:
    """For each renamed node of `source` (not in `mapped`), the nodes of `target` it may have become, best first.

    Pairs the operator already chose (`mapped`) count as matched neighbours and their targets are taken.
    """
    return _Suggester(source, target, renamed, mapped or {}).run()


def suggestions_for(
    source_id: int, target_id: int, renamed: list[str], mapped: Mapping[str, str] | None = None
) -> dict[str, NodeSuggestions]:
    """`suggest` on two stored versions (by pk): their nodes and their llm nodes' prompt texts, in two queries."""
    if not [n for n in renamed if n not in (mapped or {})]:
        return {}
    nodes = list(Node.objects.filter(version_id__in=(source_id, target_id)).order_by("version_id", "position"))
    refs = {(n.config["prompt"]["artifact_id"], n.config["prompt"]["content_hash"]) for n in nodes if n.type == "llm"}
    texts: dict[tuple[str, str], str] = {}
    if refs:
        rows = PromptRevision.objects.filter(
            artifact__artifact_id__in={a for a, _ in refs}, content_hash__in={h for _, h in refs}
        ).values_list("artifact__artifact_id", "content_hash", "content")
        texts = {(a, h): c for a, h, c in rows}
    src = [NodeDef.of(n, texts) for n in nodes if n.version_id == source_id]
    tgt = [NodeDef.of(n, texts) for n in nodes if n.version_id == target_id]
    return suggest(src, tgt, renamed, mapped)


def suggestion_answer(suggestions: Mapping[str, NodeSuggestions]) -> dict:
    """The JSON of `suggestions` in the replay plan and the unmapped refusal."""
    return SuggestionMap(dict(suggestions)).model_dump(mode="json")


def assign(weights: Mapping[str, Mapping[str, float]]) -> dict[str, str]:
    """The assignment of sources to distinct targets with the maximum total weight (Hungarian, per component)."""
    parent: dict[tuple[int, str], tuple[int, str]] = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for s, row in weights.items():
        for t in row:
            parent[find((0, s))] = find((1, t))
    components: dict[tuple[int, str], list[str]] = {}
    for s, row in weights.items():
        if row:
            components.setdefault(find((0, s)), []).append(s)
    result: dict[str, str] = {}
    for sources in components.values():
        if len(sources) == 1:
            row = weights[sources[0]]
            result[sources[0]] = min(row, key=lambda t: (-row[t], t))
            continue
        targets = sorted({t for s in sources for t in weights[s]})
        matrix = [[weights[s].get(t, 0.0) for t in targets] for s in sources]
        for i, j in _hungarian_max(matrix):
            if targets[j] in weights[sources[i]]:
                result[sources[i]] = targets[j]
    return result


def _hungarian_max(matrix: list[list[float]]) -> list[tuple[int, int]]:
    """Row -> column pairs maximising the total of `matrix` (rows <= columns after transposing if needed)."""
    rows, cols = len(matrix), len(matrix[0])
    if rows > cols:
        return [(i, j) for j, i in _hungarian_max([list(c) for c in zip(*matrix, strict=True)])]
    inf = float("inf")
    # Minimise the negated weights: the e-maxx O(n^2 m) potentials method, 1-based with a virtual column 0.
    u, v = [0.0] * (rows + 1), [0.0] * (cols + 1)
    owner, way = [0] * (cols + 1), [0] * (cols + 1)
    for i in range(1, rows + 1):
        owner[0] = i
        j0 = 0
        minv = [inf] * (cols + 1)
        used = [False] * (cols + 1)
        while True:
            used[j0] = True
            i0, delta, j1 = owner[j0], inf, 0
            row = matrix[i0 - 1]
            for j in range(1, cols + 1):
                if not used[j]:
                    cur = -row[j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j], way[j] = cur, j0
                    if minv[j] < delta:
                        delta, j1 = minv[j], j
            for j in range(cols + 1):
                if used[j]:
                    u[owner[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if owner[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            owner[j0] = owner[j1]
            j0 = j1
    return [(owner[j] - 1, j - 1) for j in range(1, cols + 1) if owner[j]]
