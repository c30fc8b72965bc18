"""The official SDKs against a local server that speaks each wire format (no network, no mock of the SDK)."""

import json
import socket

import pytest

from runs.engine import providers
from runs.engine.providers import ProviderError, complete

from .provider_wire import (
    ANTHROPIC_TEST_KEY as KEY,
)
from .provider_wire import (
    CHAT_COMPLETIONS,
    FAST_RETRY,
    MESSAGES,
    OPENAI_TEST_KEY,
    anthropic_error,
    chat_completion,
    message,
    openai_error,
)
from .worker import modules_loaded_at_start_up


def sent(server, index=0) -> dict:
    return json.loads(server.requests[index]["body"])


def test_anthropic_call_goes_through_the_messages_api(anthropic_server):
    anthropic_server.script(MESSAGES, [(200, message("Hello from Claude"))])
    completion = complete("anthropic:claude-opus-4-7", "Say hi")
    assert completion.text == "Hello from Claude" and not completion.simulated
    request = anthropic_server.requests[0]
    assert request["headers"]["authorization"] == f"Bearer {KEY}" and request["headers"]["anthropic-version"]
    assert sent(anthropic_server) == {
        "model": "claude-opus-4-7",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Say hi"}],
    }


def test_openai_call_goes_through_chat_completions_at_the_base_url(openai_server):
    openai_server.script(CHAT_COMPLETIONS, [(200, chat_completion("Hello from GPT"))])
    completion = complete("openai:gpt-5", "Say hi")
    assert completion.text == "Hello from GPT" and not completion.simulated
    assert openai_server.requests[0]["headers"]["authorization"] == f"Bearer {OPENAI_TEST_KEY}"
    assert sent(openai_server) == {
        "model": "gpt-5",
        "max_completion_tokens": 1024,
        "messages": [{"role": "user", "content": "Say hi"}],
    }


def test_anthropic_stop_reason_is_the_completions_finish_reason(anthropic_server):
    anthropic_server.script(MESSAGES, [(200, {**message(), "stop_reason": "max_tokens"})])
    assert complete("anthropic:claude-opus-4-7", "hi").finish_reason == "max_tokens"


def test_openai_finish_reason_is_the_completions_finish_reason(openai_server):
    answer = chat_completion()
    answer["choices"][0]["finish_reason"] = "length"
    openai_server.script(CHAT_COMPLETIONS, [(200, answer)])
    assert complete("openai:gpt-5", "hi").finish_reason == "length"


def test_a_simulated_completion_has_no_finish_reason(settings):
    settings.ANTHROPIC_API_KEY = ""
    assert complete("anthropic:claude-opus-4-7", "hi").finish_reason == ""


def test_anthropic_input_tokens_add_the_cache_reads_and_writes(anthropic_server):
    usage = {
        "input_tokens": 100,
        "cache_creation_input_tokens": 25,
        "cache_read_input_tokens": 50,
        "output_tokens": 30,
        "service_tier": "standard",
    }
    anthropic_server.script(MESSAGES, [(200, message(**usage))])
    got = complete("anthropic:claude-opus-4-7", "hi").usage
    assert (got.input_tokens, got.output_tokens, got.cache_read_tokens, got.cache_write_tokens) == (175, 30, 50, 25)
    assert got.reasoning_tokens is None
    assert got.raw == usage


def test_anthropic_thinking_tokens_are_the_reasoning_tokens(anthropic_server):
    usage = {"input_tokens": 10, "output_tokens": 300, "output_tokens_details": {"thinking_tokens": 240}}
    anthropic_server.script(MESSAGES, [(200, message(**usage))])
    assert complete("anthropic:claude-opus-4-7", "hi").usage.reasoning_tokens == 240


def test_openai_prompt_tokens_already_include_the_cached_tokens(openai_server):
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 40,
        "total_tokens": 140,
        "prompt_tokens_details": {"cached_tokens": 60, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 12},
    }
    openai_server.script(CHAT_COMPLETIONS, [(200, chat_completion(usage=usage))])
    got = complete("openai:gpt-5", "hi").usage
    assert (got.input_tokens, got.output_tokens, got.cache_read_tokens, got.reasoning_tokens) == (100, 40, 60, 12)
    assert got.cache_write_tokens is None
    assert got.raw == usage


def test_an_answer_without_usage_leaves_every_count_unknown(openai_server):
    answer = chat_completion()
    del answer["usage"]
    openai_server.script(CHAT_COMPLETIONS, [(200, answer)])
    got = complete("openai:gpt-5", "hi").usage
    assert got == providers.Usage()


def test_429_waits_for_retry_after_then_succeeds(anthropic_server):
    anthropic_server.script(
        MESSAGES,
        [(429, anthropic_error("rate_limit_error", "slow down"), 0, {"retry-after": "1"}), (200, message())],
    )
    assert complete("anthropic:claude-opus-4-7", "hi").text == "Hello from Claude"
    first, second = anthropic_server.requests
    assert second["at"] - first["at"] >= 1.0  # a lower bound: the SDK waited as the server asked


def test_529_overloaded_is_retried(anthropic_server):
    anthropic_server.script(
        MESSAGES, [(529, anthropic_error("overloaded_error", "Overloaded"), 0, FAST_RETRY), (200, message())]
    )
    assert complete("anthropic:claude-opus-4-7", "hi").text == "Hello from Claude"
    assert len(anthropic_server.requests) == 2


def test_529_after_the_last_retry_names_provider_status_and_message(anthropic_server):
    anthropic_server.script(MESSAGES, [(529, anthropic_error("overloaded_error", "Overloaded"), 0, FAST_RETRY)])
    with pytest.raises(ProviderError) as failure:
        complete("anthropic:claude-opus-4-7", "hi")
    assert str(failure.value) == "anthropic answered HTTP 529: Overloaded"
    assert len(anthropic_server.requests) == 2  # PROVIDER_MAX_RETRIES = 1


def test_500_is_retried_up_to_the_setting_then_reported(openai_server, settings):
    settings.PROVIDER_MAX_RETRIES = 2
    openai_server.script(
        CHAT_COMPLETIONS, [(500, openai_error("The server had an error", "server_error"), 0, FAST_RETRY)]
    )
    with pytest.raises(ProviderError) as failure:
        complete("openai:gpt-5", "hi")
    assert str(failure.value) == "openai answered HTTP 500: The server had an error"
    assert len(openai_server.requests) == 3


def test_a_timeout_says_how_long_it_waited(anthropic_server, settings):
    settings.PROVIDER_TIMEOUT = 0.2
    settings.PROVIDER_MAX_RETRIES = 0
    anthropic_server.script(MESSAGES, [(200, message(), 1.0)])
    with pytest.raises(ProviderError) as failure:
        complete("anthropic:claude-opus-4-7", "hi")
    assert str(failure.value) == "anthropic did not answer within 0.2 s (1 attempts)"


def test_a_malformed_messages_answer_fails_with_a_clear_message(anthropic_server):
    anthropic_server.script(MESSAGES, [(200, {"unexpected": True})])
    with pytest.raises(ProviderError, match=r"^anthropic sent a malformed answer \(HTTP 200\): no content list"):
        complete("anthropic:claude-opus-4-7", "hi")


def test_a_messages_answer_whose_text_block_has_no_text_fails_with_a_clear_message(anthropic_server):
    answer = message()
    answer["content"] = [{"type": "text", "text": None}]
    anthropic_server.script(MESSAGES, [(200, answer)])
    with pytest.raises(ProviderError, match=r"^anthropic sent a malformed answer \(HTTP 200\): a text block without"):
        complete("anthropic:claude-opus-4-7", "hi")


def test_a_messages_answer_joins_its_text_blocks_and_skips_the_others(anthropic_server):
    answer = message()
    answer["content"] = [
        {"type": "thinking", "thinking": "hm"},
        {"type": "text", "text": "A"},
        {"type": "text", "text": "B"},
    ]
    anthropic_server.script(MESSAGES, [(200, answer)])
    assert complete("anthropic:claude-opus-4-7", "hi").text == "AB"


def test_a_json_answer_that_is_not_an_object_fails_with_a_clear_message(openai_server):
    openai_server.script(CHAT_COMPLETIONS, [(200, "[1, 2]")])
    with pytest.raises(ProviderError, match=r"^openai sent a malformed answer \(HTTP 200\): no choices"):
        complete("openai:gpt-5", "hi")


def test_a_chat_completion_without_text_content_fails_with_a_clear_message(openai_server):
    answer = chat_completion()
    answer["choices"][0]["message"]["content"] = None
    openai_server.script(CHAT_COMPLETIONS, [(200, answer)])
    with pytest.raises(ProviderError, match=r"^openai sent a malformed answer \(HTTP 200\): the first choice has no"):
        complete("openai:gpt-5", "hi")


def test_a_chat_completions_answer_that_is_not_json_fails_with_a_clear_message(openai_server):
    openai_server.script(CHAT_COMPLETIONS, [(200, "<html>gateway says hello</html>")])
    with pytest.raises(ProviderError, match=r"^openai sent a malformed answer"):
        complete("openai:gpt-5", "hi")


def test_a_client_error_is_not_retried_and_never_shows_the_key(openai_server, settings):
    echoed = f"Incorrect API key provided: {settings.OPENAI_API_KEY}."
    openai_server.script(CHAT_COMPLETIONS, [(401, openai_error(echoed, code="invalid_api_key"))])
    with pytest.raises(ProviderError) as failure:
        complete("openai:gpt-5", "hi")
    assert str(failure.value) == "openai answered HTTP 401: Incorrect API key provided: [redacted]."
    assert len(openai_server.requests) == 1


def test_an_unreachable_server_is_reported_without_a_traceback(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    settings.ANTHROPIC_API_KEY = KEY
    settings.ANTHROPIC_BASE_URL = f"http://127.0.0.1:{port}"
    settings.PROVIDER_MAX_RETRIES = 0
    with pytest.raises(ProviderError) as failure:
        complete("anthropic:claude-opus-4-7", "hi")
    assert str(failure.value) == "anthropic could not be reached (1 attempts): Connection error."


def test_one_client_serves_every_call_of_a_process(anthropic_server):
    anthropic_server.script(MESSAGES, [(200, message())])
    providers.anthropic_client.cache_clear()
    complete("anthropic:claude-opus-4-7", "hi")
    complete("anthropic:claude-opus-4-7", "hi again")
    info = providers.anthropic_client.cache_info()
    assert (info.misses, info.hits) == (1, 1)


def test_without_a_key_the_simulator_answers(settings):
    settings.ANTHROPIC_API_KEY = ""
    completion = complete("anthropic:claude-opus-4-7", "hi")
    assert completion.simulated and completion.text.startswith("[simulated anthropic:claude-opus-4-7")


def test_simulated_usage_is_about_four_characters_to_a_token(settings):
    settings.ANTHROPIC_API_KEY = ""
    prompt = "x" * 400
    first = complete("anthropic:claude-opus-4-7", prompt)
    assert first.usage.input_tokens == 100
    assert first.usage.output_tokens == -(-len(first.text) // 4)
    assert complete("anthropic:claude-opus-4-7", prompt).usage == first.usage  # deterministic


def test_provider_failure_fails_the_step_with_its_message(acme, anthropic_server):
    from .builders import finished_run, support_workflow

    anthropic_server.script(MESSAGES, [(400, anthropic_error("invalid_request_error", "prompt is too long"))])
    version, _ = support_workflow(acme)
    run = finished_run(version)
    assert run.status == "failed"
    assert run.error == "Node draft failed: anthropic answered HTTP 400: prompt is too long"
    assert not run.steps.get(node_id="draft").simulated
    assert run.steps.get(node_id="draft").input["prompt"] == "Reply to Dana"  # what was sent, not {}


def test_no_provider_sdk_is_imported_at_start_up():
    """The web process, the worker and manage.py load neither SDK until a model is called: importing them costs
    seconds of every process's start-up."""
    assert modules_loaded_at_start_up("anthropic", "openai") == []
