"""Model providers through their official SDKs, and the deterministic simulator used when no key is set.

One client per provider and configuration per process: the SDK keeps its connection pool, retries
(`PROVIDER_MAX_RETRIES`, honouring Retry-After) and timeout (`PROVIDER_TIMEOUT`). Any failure becomes a
`ProviderError` whose message names the provider, the HTTP status and the provider's own message.

The SDKs are imported on first use: importing both costs seconds of every process's start-up (the web server,
a worker, each manage.py command), and most processes never call a provider.
"""

import json
import re
import time
from functools import lru_cache
from typing import TYPE_CHECKING

from django.conf import settings

from runs.models.runs import FINISH_REASON_MAX

from .completion import DEFAULT_MAX_TOKENS, Completion, ProviderError, Request, Usage, ms_since
from .simulator import CHARS_PER_TOKEN, simulate, simulated, simulated_tokens

if TYPE_CHECKING:
    import anthropic
    import openai
    from openai.types.chat import ChatCompletionMessageParam

MAX_ERROR_MESSAGE = 300
# An API key, or the masked echo of one that some providers put in their 401 message.
KEY_LIKE = re.compile(r"\b(?:sk|key)-[A-Za-z0-9_\-*]{6,}")

__all__ = [
    "CHARS_PER_TOKEN",
    "DEFAULT_MAX_TOKENS",
    "Completion",
    "ProviderError",
    "Request",
    "Usage",
    "complete",
    "simulate",
    "simulated_tokens",
]


# --- errors --------------------------------------------------------------------------------------------------------


def _redacted(text: str, key: str) -> str:
    if key:
        text = text.replace(key, "[redacted]")
    return KEY_LIKE.sub("[redacted]", text)


def _provider_message(body: object, fallback: str) -> str:
    """The provider's own message from an error body: {"error": {"message": ...}} or {"message": ...}."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(inner, str):
            return inner
    if isinstance(body, str) and body.strip():
        return " ".join(body.split())
    return fallback


def _status_error(provider: str, status: int, body: object, reason: str) -> str:
    return f"{provider} answered HTTP {status}: {_provider_message(body, reason)}"


def sdk_error_message(provider: str, exc: Exception) -> str:
    """One sentence for a failed call: provider, HTTP status and the provider's message, never the key."""
    import anthropic
    import openai

    timeout, status_error, connection_error, validation_error = {
        "anthropic": (
            anthropic.APITimeoutError,
            anthropic.APIStatusError,
            anthropic.APIConnectionError,
            anthropic.APIResponseValidationError,
        ),
        "openai": (
            openai.APITimeoutError,
            openai.APIStatusError,
            openai.APIConnectionError,
            openai.APIResponseValidationError,
        ),
    }[provider]
    attempts = settings.PROVIDER_MAX_RETRIES + 1
    if isinstance(exc, timeout):
        message = f"{provider} did not answer within {settings.PROVIDER_TIMEOUT:g} s ({attempts} attempts)"
    elif isinstance(exc, status_error):
        message = _status_error(provider, exc.status_code, exc.body, exc.response.reason_phrase)
    elif isinstance(exc, validation_error):
        message = f"{provider} sent a malformed answer (HTTP {exc.status_code}): {exc.message}"
    elif isinstance(exc, connection_error):
        message = f"{provider} could not be reached ({attempts} attempts): {exc.message}"
    else:
        message = f"{provider} call failed: {type(exc).__name__}: {exc}"
    return _redacted(message, _api_key(provider))[:MAX_ERROR_MESSAGE]


def _malformed(provider: str, what: str) -> ProviderError:
    return ProviderError(f"{provider} sent a malformed answer (HTTP 200): {what}")


# --- the SDK clients -----------------------------------------------------------------------------------------------


def _api_key(provider: str) -> str:
    return {"anthropic": settings.ANTHROPIC_API_KEY, "openai": settings.OPENAI_API_KEY}.get(provider, "")


@lru_cache(maxsize=8)
def anthropic_client(api_key: str, base_url: str, timeout: float, max_retries: int) -> "anthropic.Anthropic":
    import anthropic

    return anthropic.Anthropic(
        api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries, open_telemetry=False
    )


@lru_cache(maxsize=8)
def openai_client(api_key: str, base_url: str, timeout: float, max_retries: int) -> "openai.OpenAI":
    import openai

    return openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries)


def _client_settings(provider: str) -> tuple[str, str, float, int]:
    base_url = settings.ANTHROPIC_BASE_URL if provider == "anthropic" else settings.OPENAI_BASE_URL
    return _api_key(provider), base_url, settings.PROVIDER_TIMEOUT, settings.PROVIDER_MAX_RETRIES


def _count(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def anthropic_usage(raw) -> Usage:
    """Messages API usage: its input_tokens excludes the cache reads and writes, so they are added."""
    if not isinstance(raw, dict):
        return Usage()
    fresh = _count(raw.get("input_tokens"))
    cache_read = _count(raw.get("cache_read_input_tokens"))
    cache_write = _count(raw.get("cache_creation_input_tokens"))
    details = raw.get("output_tokens_details")
    return Usage(
        input_tokens=None if fresh is None else fresh + (cache_read or 0) + (cache_write or 0),
        output_tokens=_count(raw.get("output_tokens")),
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=_count(details.get("thinking_tokens")) if isinstance(details, dict) else None,
        raw=raw,
    )


def openai_usage(raw) -> Usage:
    """Chat Completions usage: prompt_tokens already includes the cached tokens."""
    if not isinstance(raw, dict):
        return Usage()
    prompt = raw.get("prompt_tokens_details")
    prompt = prompt if isinstance(prompt, dict) else {}
    completion = raw.get("completion_tokens_details")
    completion = completion if isinstance(completion, dict) else {}
    return Usage(
        input_tokens=_count(raw.get("prompt_tokens")),
        output_tokens=_count(raw.get("completion_tokens")),
        cache_read_tokens=_count(prompt.get("cached_tokens")),
        cache_write_tokens=_count(prompt.get("cache_write_tokens")),
        reasoning_tokens=_count(completion.get("reasoning_tokens")),
        raw=raw,
    )


def _answer(provider: str, response) -> dict:
    """The JSON object of a 200 answer, read from the SDK's raw response ({} if it is JSON but no object).

    The SDK would build its pydantic models of the whole answer, only for us to read a few fields and
    dump the usage back to a dict; the JSON as sent is what the step records anyway.
    """
    try:
        body = json.loads(response.http_response.content)
    except ValueError:
        raise _malformed(provider, "the body is not JSON") from None
    return body if isinstance(body, dict) else {}


def _given(value, omit):
    """The value, or the SDK's own `omit` (each SDK has its own) so that nothing is sent for it."""
    return omit if value is None or value == [] or value == "" else value


def _finish_reason(value) -> str:
    """The provider's stop or finish reason as it wrote it, when it is a string that fits the step's column."""
    return value if isinstance(value, str) and len(value) <= FINISH_REASON_MAX else ""


def call_anthropic(request: Request) -> tuple[str, Usage, str]:
    import anthropic

    client = anthropic_client(*_client_settings("anthropic"))
    # The SDK dropped temperature and top_p from its signature; the Messages API still takes them.
    sampling = {k: v for k, v in (("temperature", request.temperature), ("top_p", request.top_p)) if v is not None}
    try:
        response = client.messages.with_raw_response.create(
            model=request.model_id,
            max_tokens=request.max_tokens,
            messages=[{"role": "user", "content": request.prompt}],
            system=_given(request.system, anthropic.omit),
            stop_sequences=_given(list(request.stop), anthropic.omit),
            extra_body=sampling or None,
        )
    except anthropic.AnthropicError as exc:
        raise ProviderError(sdk_error_message("anthropic", exc)) from None
    message = _answer("anthropic", response)
    content = message.get("content")
    if not isinstance(content, list):
        raise _malformed("anthropic", "no content list in the Messages API answer")
    texts: list[str] = []
    for block in content:
        if isinstance(block, dict) and block.get("type") == "text":
            if not isinstance(text := block.get("text"), str):
                raise _malformed("anthropic", "a text block without text")
            texts.append(text)
    return "".join(texts), anthropic_usage(message.get("usage")), _finish_reason(message.get("stop_reason"))


def call_openai(request: Request) -> tuple[str, Usage, str]:
    import openai

    client = openai_client(*_client_settings("openai"))
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": request.prompt}]
    if request.system:
        messages.insert(0, {"role": "system", "content": request.system})
    try:
        response = client.chat.completions.with_raw_response.create(
            model=request.model_id,
            messages=messages,
            max_completion_tokens=request.max_tokens,
            temperature=_given(request.temperature, openai.omit),
            top_p=_given(request.top_p, openai.omit),
            stop=_given(list(request.stop), openai.omit),
        )
    except openai.OpenAIError as exc:
        raise ProviderError(sdk_error_message("openai", exc)) from None
    completion = _answer("openai", response)
    choices = completion.get("choices")
    if not isinstance(choices, list) or not choices:
        raise _malformed("openai", "no choices in the Chat Completions answer")
    first = choices[0] if isinstance(choices[0], dict) else {}
    message = first.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        raise _malformed("openai", "the first choice has no text content")
    return content, openai_usage(completion.get("usage")), _finish_reason(first.get("finish_reason"))


PROVIDERS = {"anthropic": call_anthropic, "openai": call_openai}


def complete(model_ref: str, prompt: str, **options) -> Completion:
    """Call the model of `model_ref` ("provider:model_id"), or the simulator when its provider has no key.

    `options` are `Request`'s: system, max_tokens, temperature, top_p, stop.
    """
    provider, _, model_id = model_ref.partition(":")
    request = Request(model_id=model_id, prompt=prompt, **options)
    call = PROVIDERS.get(provider)
    if call is None or not _api_key(provider):
        return simulated(model_ref, request)
    began = time.perf_counter()
    text, usage, finish_reason = call(request)
    return Completion(text, simulated=False, usage=usage, latency_ms=ms_since(began), finish_reason=finish_reason)
