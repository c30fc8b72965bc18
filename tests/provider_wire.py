"""Answers in the Messages and Chat Completions wire formats, for the local server (tests/http_server.py)."""

ANTHROPIC_TEST_KEY = "sk-ant-test-0123456789abcdef"
OPENAI_TEST_KEY = "sk-proj-test-0123456789abcdef"
MESSAGES = "/v1/messages"
CHAT_COMPLETIONS = "/v1/chat/completions"


def message(text="Hello from Claude", *, model="claude-opus-4-7", **usage) -> dict:
    """A Messages API answer; `usage` as Anthropic sends it (input_tokens excludes the cache counts)."""
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage or {"input_tokens": 12, "output_tokens": 5},
    }


def chat_completion(text="Hello from GPT", *, model="gpt-5", usage=None) -> dict:
    """A Chat Completions answer; `usage` as OpenAI sends it (prompt_tokens includes cached_tokens)."""
    return {
        "id": "chatcmpl-01",
        "object": "chat.completion",
        "created": 1_790_000_000,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop", "logprobs": None}
        ],
        "usage": usage or {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }


def anthropic_error(kind: str, message: str) -> dict:
    return {"type": "error", "error": {"type": kind, "message": message}}


def openai_error(message: str, kind="invalid_request_error", code=None) -> dict:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


FAST_RETRY = {"retry-after-ms": "1"}  # the SDK's backoff would add up to a second per retried test
