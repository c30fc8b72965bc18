import pytest

from runs import services
from runs.http.errors import Rejected
from runs.models import Workflow

from .builders import llm, tool
from .factories import PromptRevisionFactory


@pytest.fixture
def revision(acme):
    return PromptRevisionFactory(artifact__workspace=acme)


def _rejected(acme, nodes):
    with pytest.raises(Rejected) as info:
        services.create_workflow(workspace=acme, name="W", nodes=nodes)
    assert not Workflow.objects.exists(), "nothing may be saved"
    return info.value


def test_duplicate_node_ids_are_rejected_naming_the_node(acme, revision):
    error = _rejected(acme, [llm("a", revision), llm("a", revision)])
    assert error.status == 400 and "Duplicate node id 'a'" in error.message and error.field == "nodes[1].id"


def test_dependency_on_an_unknown_node_is_rejected(acme, revision):
    error = _rejected(acme, [llm("a", revision, after=["ghost"])])
    assert error.status == 400 and "unknown node 'ghost'" in error.message


def test_dependency_cycle_is_rejected(acme, revision):
    error = _rejected(acme, [llm("a", revision, after=["b"]), llm("b", revision, after=["a"])])
    assert error.status == 400 and "cycle" in error.message and "a, b" in error.message


def test_unknown_model_is_rejected(acme, revision):
    error = _rejected(acme, [llm("a", revision, model="acme:gpt-9")])
    assert error.status == 404 and "unknown model 'acme:gpt-9'" in error.message and error.field == "nodes[0].model"


def test_unknown_tool_is_rejected(acme):
    error = _rejected(acme, [tool("t", "rockets.launch", {})])
    assert error.status == 404 and "unknown tool 'rockets.launch'" in error.message


def test_malformed_artifact_id_is_rejected(acme, revision):
    node = llm("a", revision)
    node["prompt"]["artifact_id"] = "prompt_zz"
    error = _rejected(acme, [node])
    assert error.status == 400 and error.field == "nodes[0].prompt.artifact_id"


def test_malformed_content_hash_is_rejected(acme, revision):
    node = llm("a", revision)
    node["prompt"]["content_hash"] = "sha256:1234"
    error = _rejected(acme, [node])
    assert error.status == 400 and error.field == "nodes[0].prompt.content_hash"


def test_prompt_revision_of_another_workspace_is_not_found(acme, globex):
    foreign = PromptRevisionFactory(artifact__workspace=globex)
    error = _rejected(acme, [llm("a", foreign)])
    assert error.status == 404 and "is not a revision of prompt artifact" in error.message


def test_nodes_must_be_a_non_empty_list(acme):
    assert _rejected(acme, []).field == "nodes"
    assert _rejected(acme, "draft").field == "nodes"


def test_node_execution_order_follows_dependencies(acme, revision):
    from runs.graph import execution_order

    assert execution_order([("c", ["b"]), ("a", []), ("b", ["a"])]) == ["a", "b", "c"]


def test_prompt_created_with_a_mismatching_hash_saves_nothing(acme):
    from runs.models import PromptArtifact

    with pytest.raises(Rejected) as info:
        services.create_prompt(workspace=acme, name="p", content="hi", content_hash="sha256:" + "a" * 64)
    assert info.value.field == "content_hash" and "does not match" in info.value.message
    assert not PromptArtifact.objects.exists()
