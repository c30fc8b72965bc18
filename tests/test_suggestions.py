"""Suggested targets for renamed nodes (issue 32): the ranking, the joint assignment, the measured accuracy."""

import itertools
import json
import random

import pytest
from django.core.management import call_command

from mappings.corpus import CORPUS_PATH, build_corpus, load_corpus, measure
from mappings.suggestions import NodeDef, assign, name_similarity, suggest, suggestions_for
from runs import services

from .builders import llm, support_workflow, tool
from .factories import PromptRevisionFactory

PROMPT = {"artifact_id": "prompt_0000abcd", "content_hash": "sha256:" + "a" * 64}
EDITED = {"artifact_id": "prompt_0000abcd", "content_hash": "sha256:" + "b" * 64}
TEXT = "Write a short, polite reply to {{ trigger.customer_name }} about: {{ trigger.message }}"


def llm_def(node_id, after=(), prompt=PROMPT, text=TEXT, model="anthropic:claude-opus-4-7"):
    return NodeDef(node_id, "llm", {"prompt": prompt, "model": model}, tuple(after), text)


def send_def(node_id, after, body):
    return NodeDef(node_id, "tool", {"tool": "messages.send", "args": {"body": body}}, tuple(after))


def test_an_identical_definition_in_the_same_place_is_preselected_with_its_reasons():
    source = [llm_def("draft"), send_def("notify", ["draft"], "{{ nodes.draft.output }}")]
    target = [llm_def("compose"), send_def("notify", ["compose"], "{{ nodes.compose.output }}")]
    found = suggest(source, target, ["draft"])["draft"]
    assert found.preselected == "compose"
    assert found.candidates[0].confidence >= 0.9
    assert found.candidates[0].reasons == ["identical definition", "same downstream notify"]


def test_two_equally_good_candidates_are_never_preselected():
    source = [llm_def("root"), llm_def("draft", ["root"]), send_def("notify", ["draft"], "{{ trigger.x }}")]
    target = [llm_def("root"), llm_def("compose_a", ["root"]), llm_def("compose_b", ["root"])]
    target += [send_def("notify", ["compose_a", "compose_b"], "{{ trigger.x }}")]
    found = suggest(source, target, ["draft"])["draft"]
    assert [c.target for c in found.candidates] == ["compose_a", "compose_b"]
    assert all(c.confidence >= 0.9 for c in found.candidates)
    assert found.preselected is None


def test_two_sources_wanting_one_target_equally_get_no_preselection():
    source = [llm_def("root"), llm_def("draft_a", ["root"]), llm_def("draft_b", ["root"])]
    target = [llm_def("root"), llm_def("compose", ["root"])]
    found = suggest(source, target, ["draft_a", "draft_b"])
    assert found["draft_a"].preselected is None and found["draft_b"].preselected is None


def test_a_node_renamed_and_edited_is_still_suggested_with_a_lower_confidence():
    source = [llm_def("draft"), send_def("notify", ["draft"], "{{ nodes.draft.output }}")]
    renamed = [llm_def("compose"), send_def("notify", ["compose"], "{{ nodes.compose.output }}")]
    edited = [
        llm_def("compose", prompt=EDITED, text=TEXT.replace("short, polite", "brief, friendly")),
        send_def("notify", ["compose"], "{{ nodes.compose.output }}"),
    ]
    only_renamed = suggest(source, renamed, ["draft"])["draft"].candidates[0]
    also_edited = suggest(source, edited, ["draft"])["draft"].candidates[0]
    assert also_edited.target == "compose"
    assert also_edited.confidence < only_renamed.confidence
    assert "prompt 90 % similar" in also_edited.reasons


def test_name_similarity_alone_suggests_nothing():
    source = [llm_def("draft")]
    other = {"artifact_id": "prompt_0000ffff", "content_hash": "sha256:" + "c" * 64}
    target = [llm_def("draft_reply", prompt=other, text="Translate {{ trigger.text }}", model="openai:gpt-5-mini")]
    assert suggest(source, target, ["draft"])["draft"].candidates == []


def test_name_similarity_breaks_a_tie_without_preselecting():
    source = [llm_def("draft")]
    target = [llm_def("summary"), llm_def("draft_v2")]
    found = suggest(source, target, ["draft"])["draft"]
    assert found.candidates[0].target == "draft_v2" and found.preselected is None


def test_name_similarity_ignores_snake_and_camel_case():
    assert name_similarity("compose_reply", "composeReply") == 1.0


def test_a_target_is_suggested_for_one_source_only():
    source = [llm_def("a"), llm_def("b", ["a"])]
    target = [llm_def("x"), llm_def("y", ["x"])]
    found = suggest(source, target, ["a", "b"])
    assert {found["a"].candidates[0].target, found["b"].candidates[0].target} == {"x", "y"}


def test_matched_neighbours_place_nodes_with_identical_definitions():
    chain = [llm_def(f"n{i}", [f"n{i - 1}"] if i else []) for i in range(4)]
    renamed = [llm_def("first")] + [llm_def(f"n{i}", ["first" if i == 1 else f"n{i - 1}"]) for i in range(1, 3)]
    renamed += [llm_def("last", ["n2"])]
    found = suggest(chain, renamed, ["n0", "n3"])
    assert found["n0"].preselected == "first" and found["n3"].preselected == "last"


@pytest.mark.parametrize("seed", range(20))
def test_the_assignment_has_the_maximum_total_confidence(seed):
    rng = random.Random(seed)
    sources, targets = [f"s{i}" for i in range(rng.randint(1, 5))], [f"t{i}" for i in range(rng.randint(1, 5))]
    weights = {s: {t: round(rng.random(), 2) for t in targets if rng.random() < 0.7} for s in sources}
    chosen = assign(weights)
    assert len(set(chosen.values())) == len(chosen)
    best = max(
        sum(weights[s].get(t, 0) for s, t in zip(sources, perm, strict=False))
        for perm in itertools.permutations(targets + [None] * len(sources), len(sources))
    )
    assert sum(weights[s][t] for s, t in chosen.items()) == pytest.approx(best)


def test_the_corpus_file_is_what_build_corpus_makes():
    assert json.loads(CORPUS_PATH.read_text()) == [c.as_json() for c in build_corpus()]


def test_the_corpus_covers_60_version_pairs_of_every_kind():
    cases = load_corpus()
    assert len(cases) >= 60
    kinds = {c.name.split(": ")[1].split(" #")[0] for c in cases}
    assert {"rename and move", "remove one", "add nodes and rename one", "rename, move and edit"} <= kinds


def test_suggestions_meet_the_precision_and_top1_targets_on_the_corpus():
    result = measure(load_corpus())
    assert result.precision >= 0.98, result.wrong
    assert result.top1 >= 0.9, result.wrong


def test_the_accuracy_command_prints_the_figures(capsys):
    call_command("mapping_suggestion_accuracy")
    out = capsys.readouterr().out
    assert "precision of preselected targets: 1.000" in out and "top-1 accuracy of the first candidate" in out


@pytest.mark.django_db
def test_suggestions_for_stored_versions_compare_prompt_texts(acme, django_assert_max_num_queries):
    version, revision = support_workflow(acme)
    edited = PromptRevisionFactory(artifact=revision.artifact, content="Reply kindly to {{ trigger.name }}")
    v2 = services.add_version(
        workflow=version.workflow,
        nodes=[
            llm("compose", edited),
            tool(
                "notify",
                "messages.send",
                {"to": "{{ trigger.email }}", "body": "{{ nodes.compose.output }}"},
                ["compose"],
            ),
        ],
    )
    with django_assert_max_num_queries(2):
        found = suggestions_for(version.pk, v2.pk, ["draft"])["draft"]
    assert found.candidates[0].target == "compose"
    assert any(r.startswith("prompt ") and r.endswith("% similar") for r in found.candidates[0].reasons)


def test_a_block_of_alike_nodes_too_large_to_compare_gets_no_suggestions():
    source = [llm_def(f"old_{i}") for i in range(100)]
    target = [llm_def(f"new_{i}") for i in range(100)]
    found = suggest(source, target, [n.node_id for n in source])
    assert all(s.candidates == [] and s.preselected is None for s in found.values())


def test_pairs_already_mapped_take_their_targets_and_place_their_neighbours():
    source = [llm_def("a"), llm_def("b", ["a"])]
    target = [llm_def("x"), llm_def("y", ["x"])]
    found = suggest(source, target, ["a", "b"], mapped={"a": "x"})
    assert list(found) == ["b"] and found["b"].preselected == "y"
    assert "same upstream x" in found["b"].candidates[0].reasons
