"""What a provider call is asked and answers, whoever answers it: a provider's SDK or the simulator."""

import time
from dataclasses import dataclass, field

DEFAULT_MAX_TOKENS = 1024


def ms_since(began: float) -> int:
    """Milliseconds since a time.perf_counter() reading."""
    return int((time.perf_counter() - began) * 1000)


class ProviderError(Exception):
    pass


@dataclass(frozen=True)
class Usage:
    """Token counts from a provider's answer; None where the provider did not say.

    `input_tokens` is the total, cache reads and writes included, whatever the provider's convention.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    raw: dict | None = None  # the usage object as the provider sent it


@dataclass(frozen=True)
class Completion:
    text: str
    simulated: bool
    usage: Usage = field(default_factory=Usage)
    latency_ms: int = 0
    finish_reason: str = ""  # the provider's own word for why it stopped; "" when it did not say (the simulator)


@dataclass(frozen=True)
class Request:
    """What one LLM step sends: the rendered prompt and system, and the node's options."""

    model_id: str
    prompt: str
    system: str = ""
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
