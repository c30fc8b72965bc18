"""The deterministic simulator that answers model calls when no provider key is set (labelled "simulated")."""

import hashlib
import math
import time

from django.conf import settings

from .completion import Completion, Request, Usage, ms_since

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
CHARS_PER_TOKEN = 4  # the simulator's usage: about four characters to a token


def simulate(model_ref: str, prompt: str, system: str = "") -> str:
    """Same model, prompt and system → same text; another of them → visibly different text."""
    seed = f"{model_ref}\n{prompt}" if not system else f"{model_ref}\n{system}\n{prompt}"
    digest = hashlib.sha256(seed.encode()).digest()
    words = " ".join(SIM_WORDS[b % len(SIM_WORDS)] for b in digest[:12])
    excerpt = " ".join(prompt.split())[:80]
    return f"[simulated {model_ref} #{digest.hex()[:8]}] {words}. (prompt: {excerpt})"


def simulated_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


def simulated(model_ref: str, request: Request) -> Completion:
    began = time.perf_counter()
    if settings.SIMULATED_LATENCY:
        time.sleep(settings.SIMULATED_LATENCY)
    text = simulate(model_ref, request.prompt, request.system)[: request.max_tokens * CHARS_PER_TOKEN]
    input_tokens = simulated_tokens(request.system + request.prompt)
    output_tokens = simulated_tokens(text)
    usage = Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=0,
        cache_write_tokens=0,
        raw={"simulated": True, "input_tokens": input_tokens, "output_tokens": output_tokens},
    )
    return Completion(text, simulated=True, usage=usage, latency_ms=ms_since(began))
