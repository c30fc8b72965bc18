"""An LLM node's options: validated with a 400 naming the field, sent to the provider, recorded, kept by replays."""

import json

import pytest

from runs import services
from runs.engine.executor import execute
from runs.http.errors import Rejected
from runs.models import Run, Workflow

from .builders import PAYLOAD, finished_run, llm
from .factories import PromptRevisionFactory
from .provider_wire import CHAT_COMPLETIONS, MESSAGES, chat_completion, message

OPTIONS = {"system": "You answer {{ trigger.name }} politely.", "temperature": 0.2, "top_p": 0.9, "stop": ["END"]}


@pytest.fixture
def revision(acme):
    return PromptRevisionFactory(artifact__workspace=acme, content="Reply to {{ trigger.name }}")


def workflow_with(acme, revision, model="anthropic:claude-opus-4-7", **options):
    node = llm("draft", revision, model=model) | options
    return services.create_workflow(workspace=acme, name="Options", nodes=[node])


def rejected(acme, revision, **options) -> Rejected:
    with pytest.raises(Rejected) as info:
        workflow_with(acme, revision, **options)
    assert not Workflow.objects.exists(), "nothing may be saved"
    return info.value


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("system", 42),
        ("system", "Hello {{ secrets.key }}"),
        ("temperature", 2.5),
        ("temperature", "hot"),
        ("temperature", True),
        ("top_p", 0),
        ("top_p", 1.5),
        ("stop", ["a", "b", "c", "d", "e"]),
        ("stop", [""]),
        ("stop", [1]),
        ("max_tokens", 0),
        ("max_tokens", 200_000),
        ("max_tokens", 10.5),
    ],
)
def test_a_bad_option_is_a_400_naming_its_field(acme, revision, field, value):
    error = rejected(acme, revision, **{field: value})
    assert (error.status, error.field) == (400, f"nodes[0].{field}")
    assert error.message.startswith(f"nodes[0].{field} must be ")


def test_the_api_answers_a_bad_option_with_a_400_naming_the_field(api, acme, revision):
    node = llm("draft", revision) | {"temperature": 3}
    response = api.post("/api/v1/acme/workflows", {"name": "W", "nodes": [node]}, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "nodes[0].temperature"
    assert response.json()["error"]["message"] == "nodes[0].temperature must be a number from 0 to 2."


def test_max_tokens_defaults_to_1024_and_unset_options_are_not_stored(acme, revision):
    version = workflow_with(acme, revision)
    assert version.nodes.get().config["options"] == {"max_tokens": 1024}


def test_a_single_stop_string_is_a_list_of_one(acme, revision):
    version = workflow_with(acme, revision, stop="END")
    assert version.nodes.get().config["options"]["stop"] == ["END"]


def test_the_options_are_sent_on_the_messages_api_and_recorded_in_the_step_input(acme, revision, anthropic_server):
    anthropic_server.script(MESSAGES, [(200, message())])
    run = finished_run(workflow_with(acme, revision, max_tokens=300, **OPTIONS))
    body = json.loads(anthropic_server.requests[0]["body"])
    assert body == {
        "model": "claude-opus-4-7",
        "max_tokens": 300,
        "messages": [{"role": "user", "content": "Reply to Dana"}],
        "system": "You answer Dana politely.",
        "stop_sequences": ["END"],
        "temperature": 0.2,
        "top_p": 0.9,
    }
    assert run.steps.get().input == {
        "prompt": "Reply to Dana",
        "system": "You answer Dana politely.",
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["END"],
        "max_tokens": 300,
    }


def test_the_options_are_sent_on_chat_completions(acme, revision, openai_server):
    openai_server.script(CHAT_COMPLETIONS, [(200, chat_completion())])
    finished_run(workflow_with(acme, revision, model="openai:gpt-5", **OPTIONS))
    body = json.loads(openai_server.requests[0]["body"])
    assert body == {
        "model": "gpt-5",
        "max_completion_tokens": 1024,
        "messages": [
            {"role": "system", "content": "You answer Dana politely."},
            {"role": "user", "content": "Reply to Dana"},
        ],
        "stop": ["END"],
        "temperature": 0.2,
        "top_p": 0.9,
    }


def test_a_system_template_with_a_missing_key_fails_the_step(acme, revision, settings):
    settings.ANTHROPIC_API_KEY = ""
    run = finished_run(workflow_with(acme, revision, system="Hello {{ trigger.nobody }}"))
    assert run.status == "failed" and "missing key 'trigger.nobody'" in run.error


def replay_of(source: Run, mode: str, overrides: dict) -> Run:
    """The replay row as submit_replay records it; the executor is what keeps or changes the options."""
    replay = Run.objects.create(
        workspace_id=source.workspace_id,
        workflow_id=source.workflow_id,
        version_id=source.version_id,
        version_number=source.version_number,
        trigger_payload=PAYLOAD,
        steps_total=source.steps_total,
        replay_of=source,
        replay_depth=1,
        mode=mode,
        overrides=overrides,
    )
    execute(replay.run_id)
    replay.refresh_from_db()
    return replay


@pytest.mark.parametrize(
    ("mode", "overrides"),
    [
        ("as_is", {}),
        ("model", {"model": {"model_id": "gpt-5", "model_ref": "openai:gpt-5"}}),
        ("prompt", "newer revision"),
    ],
)
def test_every_replay_mode_keeps_the_options(acme, revision, settings, mode, overrides):
    settings.ANTHROPIC_API_KEY = settings.OPENAI_API_KEY = ""
    source = finished_run(workflow_with(acme, revision, max_tokens=300, **OPTIONS))
    if overrides == "newer revision":
        newer = services.add_prompt_revision(artifact=revision.artifact, content="Be brief with {{ trigger.name }}")
        overrides = {"prompt": {"artifact_id": revision.artifact.artifact_id, "content_hash": newer.content_hash}}
    replay = replay_of(source, mode, overrides)
    kept = {k: v for k, v in replay.steps.get().input.items() if k != "prompt"}
    assert kept == {k: v for k, v in source.steps.get().input.items() if k != "prompt"}
    assert kept["temperature"] == 0.2 and kept["max_tokens"] == 300
