"""Model providers over HTTP, and the deterministic simulator used when no key is set."""

import hashlib
import time
from dataclasses import dataclass

import httpx
from django.conf import settings

RETRYABLE = {429, 500, 502, 503, 504, 529}
SIM_WORDS = [
    "acknowledged",
    "summary",
    "draft",
    "review",
    "customer",
    "order",
    "refund",
    "shipping",
    "invoice",
    "priority",
    "follow-up",
    "escalate",
    "resolve",
    "confirm",
    "schedule",
    "update",
    "account",
    "billing",
    "notice",
    "careful",
    "concise",
    "polite",
]


class ProviderError(Exception):
    pass


@dataclass
class Completion:
    text: str
    simulated: bool


def simulate(model_ref: str, prompt: str) -> str:
    """Same model and prompt → same text; another model or prompt → visibly different text."""
    digest = hashlib.sha256(f"{model_ref}\n{prompt}".encode()).digest()
    words = " ".join(SIM_WORDS[b % len(SIM_WORDS)] for b in digest[:12])
    excerpt = " ".join(prompt.split())[:80]
    return f"[simulated {model_ref} #{digest.hex()[:8]}] {words}. (prompt: {excerpt})"


def _post_with_retry(url: str, headers: dict, body: dict) -> dict:
    attempts = settings.PROVIDER_MAX_RETRIES + 1
    last_error = ""
    for attempt in range(attempts):
        try:
            response = httpx.post(url, headers=headers, json=body, timeout=settings.PROVIDER_TIMEOUT)
        except httpx.TimeoutException:
            last_error = f"timed out after {settings.PROVIDER_TIMEOUT:g} s"
        except httpx.HTTPError as exc:
            last_error = f"connection failed: {exc}"
        else:
            if response.status_code < 300:
                try:
                    return response.json()
                except ValueError:
                    raise ProviderError(f"answered with invalid JSON (HTTP {response.status_code})")
            last_error = f"HTTP {response.status_code}: {response.text[:300]}"
            if response.status_code not in RETRYABLE:
                raise ProviderError(last_error)
            retry_after = response.headers.get("retry-after", "")
            if retry_after.replace(".", "", 1).isdigit() and attempt + 1 < attempts:
                time.sleep(min(float(retry_after), 30.0))
                continue
        if attempt + 1 < attempts:
            time.sleep(settings.PROVIDER_BACKOFF * (2**attempt))
    raise ProviderError(f"{last_error} (after {attempts} attempts)")


def call_anthropic(model_id: str, prompt: str) -> str:
    data = _post_with_retry(
        settings.ANTHROPIC_BASE_URL.rstrip("/") + "/v1/messages",
        {
            "x-api-key": settings.ANTHROPIC_API_KEY,
            "anthropic-version": "2023-06-01",
            "content-type": "application/json",
        },
        {"model": model_id, "max_tokens": 1024, "messages": [{"role": "user", "content": prompt}]},
    )
    try:
        return "".join(block["text"] for block in data["content"] if block.get("type") == "text")
    except (KeyError, TypeError) as exc:
        raise ProviderError(f"unexpected Messages API answer: missing {exc}") from None


def call_openai(model_id: str, prompt: str) -> str:
    data = _post_with_retry(
        settings.OPENAI_BASE_URL.rstrip("/") + "/chat/completions",
        {"authorization": f"Bearer {settings.OPENAI_API_KEY}", "content-type": "application/json"},
        {"model": model_id, "messages": [{"role": "user", "content": prompt}]},
    )
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as exc:
        raise ProviderError(f"unexpected Chat Completions answer: missing {exc}") from None
    if not isinstance(content, str):
        raise ProviderError("unexpected Chat Completions answer: content is not text")
    return content


PROVIDERS = {
    "anthropic": (lambda: settings.ANTHROPIC_API_KEY, call_anthropic),
    "openai": (lambda: settings.OPENAI_API_KEY, call_openai),
}


def complete(model_ref: str, prompt: str) -> Completion:
    provider, _, model_id = model_ref.partition(":")
    key_of, call = PROVIDERS.get(provider, (lambda: "", None))
    if call is None or not key_of():
        if settings.SIMULATED_LATENCY:
            time.sleep(settings.SIMULATED_LATENCY)
        return Completion(simulate(model_ref, prompt), simulated=True)
    return Completion(call(model_id, prompt), simulated=False)
