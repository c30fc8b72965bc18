"""The real adapters against a local server that speaks each API (no network)."""

import json

import pytest

from runs.engine.providers import ProviderError, complete

ANTHROPIC_OK = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "content": [{"type": "text", "text": "Hello from Claude"}],
    "stop_reason": "end_turn",
}
OPENAI_OK = {
    "id": "c1",
    "object": "chat.completion",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello from GPT"}}],
}


@pytest.fixture
def anthropic(settings, local_server):
    settings.ANTHROPIC_API_KEY = "test-key"
    settings.ANTHROPIC_BASE_URL = local_server.url
    settings.PROVIDER_BACKOFF = 0.01
    settings.PROVIDER_TIMEOUT = 2
    return local_server


@pytest.fixture
def openai(settings, local_server):
    settings.OPENAI_API_KEY = "test-key"
    settings.OPENAI_BASE_URL = local_server.url + "/v1"
    settings.PROVIDER_BACKOFF = 0.01
    settings.PROVIDER_TIMEOUT = 2
    return local_server


def test_anthropic_messages_api_call(anthropic):
    anthropic.script("/v1/messages", [(200, ANTHROPIC_OK)])
    completion = complete("anthropic:claude-opus-4-7", "Say hi")
    assert completion.text == "Hello from Claude" and not completion.simulated
    request = anthropic.requests[0]
    assert request["headers"]["x-api-key"] == "test-key" and request["headers"]["anthropic-version"]
    assert json.loads(request["body"])["model"] == "claude-opus-4-7"
    assert json.loads(request["body"])["messages"] == [{"role": "user", "content": "Say hi"}]


def test_openai_chat_completions_call(openai):
    openai.script("/v1/chat/completions", [(200, OPENAI_OK)])
    completion = complete("openai:gpt-5", "Say hi")
    assert completion.text == "Hello from GPT" and not completion.simulated
    assert openai.requests[0]["headers"]["authorization"] == "Bearer test-key"


def test_429_then_success_is_retried(anthropic):
    anthropic.script("/v1/messages", [(429, {"error": "slow down"}), (200, ANTHROPIC_OK)])
    assert complete("anthropic:claude-opus-4-7", "hi").text == "Hello from Claude"
    assert len(anthropic.requests) == 2


def test_5xx_is_retried_then_reported(openai, settings):
    settings.PROVIDER_MAX_RETRIES = 2
    openai.script("/v1/chat/completions", [(503, {"error": "down"})])
    with pytest.raises(ProviderError, match=r"HTTP 503.*after 3 attempts"):
        complete("openai:gpt-5", "hi")
    assert len(openai.requests) == 3


def test_timeout_fails_with_the_providers_message(anthropic, settings):
    settings.PROVIDER_TIMEOUT = 0.2
    settings.PROVIDER_MAX_RETRIES = 1
    anthropic.script("/v1/messages", [(200, ANTHROPIC_OK, 1.0)])
    with pytest.raises(ProviderError, match="timed out after 0.2 s"):
        complete("anthropic:claude-opus-4-7", "hi")


def test_garbage_answer_fails_the_step(anthropic):
    anthropic.script("/v1/messages", [(200, {"unexpected": True})])
    with pytest.raises(ProviderError, match="unexpected Messages API answer"):
        complete("anthropic:claude-opus-4-7", "hi")


def test_4xx_is_not_retried(openai):
    openai.script("/v1/chat/completions", [(401, {"error": "bad key"})])
    with pytest.raises(ProviderError, match="HTTP 401"):
        complete("openai:gpt-5", "hi")
    assert len(openai.requests) == 1


def test_without_a_key_the_simulator_answers(settings):
    settings.ANTHROPIC_API_KEY = ""
    completion = complete("anthropic:claude-opus-4-7", "hi")
    assert completion.simulated and completion.text.startswith("[simulated anthropic:claude-opus-4-7")


def test_provider_failure_fails_the_step_with_its_message(acme, anthropic):
    from .builders import finished_run, support_workflow

    anthropic.script("/v1/messages", [(400, {"error": "prompt too long"})])
    version, _ = support_workflow(acme)
    run = finished_run(version)
    assert run.status == "failed" and "HTTP 400" in run.error and "prompt too long" in run.error
    assert not run.steps.get(node_id="draft").simulated
