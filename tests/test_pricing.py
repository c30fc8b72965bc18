"""Pricing a step gives genai-prices' own figure for that model at that time, to the digit, or unknown (None)."""

from datetime import UTC, datetime

import genai_prices
import pytest
from genai_prices.data_snapshot import get_snapshot

from runs.engine.pricing import COST_PLACES, price
from runs.engine.providers import Usage

USAGES = [
    Usage(input_tokens=2000, output_tokens=250, cache_read_tokens=500, cache_write_tokens=300),
    Usage(input_tokens=1_200_000, output_tokens=40_000),  # past every long-context tier
    Usage(input_tokens=420, output_tokens=180, cache_read_tokens=0, cache_write_tokens=0),
    Usage(input_tokens=10, output_tokens=0, cache_read_tokens=50),  # more cached than input: refused
    Usage(input_tokens=0, output_tokens=0),
    Usage(input_tokens=None, output_tokens=12),
]
TIMES = [
    datetime(2026, 12, 1, 14, 0, tzinfo=UTC),
    datetime(2026, 12, 1, 17, 30, tzinfo=UTC),  # off-peak hours for the prices that have them
    datetime(2024, 3, 1, 9, 0, tzinfo=UTC),  # before many price changes
]


def genai_prices_figure(model_ref: str, usage: Usage, at: datetime):
    """The library's own calculation, read here through its public calc_price."""
    provider, _, model_id = model_ref.partition(":")
    if usage.input_tokens is None or usage.output_tokens is None:
        return None
    counted = genai_prices.Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
    )
    try:
        calculation = genai_prices.calc_price(counted, model_id, provider_id=provider, genai_request_timestamp=at)
    except (LookupError, ValueError):
        return None
    return calculation.total_price.quantize(COST_PLACES)


@pytest.mark.parametrize("provider", [p.id for p in get_snapshot().providers])
def test_every_bundled_model_is_priced_as_genai_prices_prices_it(provider):
    models = next(p for p in get_snapshot().providers if p.id == provider).models
    for model in models:
        for usage in USAGES:
            for at in TIMES:
                ref = f"{provider}:{model.id}"
                assert price(ref, usage, at) == genai_prices_figure(ref, usage, at), (ref, usage, at)


def test_a_model_the_price_data_does_not_know_has_an_unknown_cost():
    assert price("anthropic:claude-from-the-future", USAGES[0], TIMES[0]) is None
    assert price("nobody:some-model", USAGES[0], TIMES[0]) is None


def test_a_step_is_priced_at_its_own_time_whatever_was_priced_before():
    """A price change between two steps of one process is seen by the second."""
    changed = [
        (f"{p.id}:{m.id}", m)
        for p in get_snapshot().providers
        for m in p.models
        if isinstance(m.prices, list) and len(m.prices) > 1
    ]
    assert changed, "the bundled data has models whose price changed"
    for ref, _ in changed[:20]:
        for at in (TIMES[2], TIMES[0], TIMES[2]):
            assert price(ref, USAGES[0], at) == genai_prices_figure(ref, USAGES[0], at), (ref, at)


def test_a_figure_already_worked_out_is_the_same_figure_again(monkeypatch):
    """The process remembers figures by model, price period and counts: a second pricing (and one after the
    memory filled and was forgotten) gives genai-prices' figure, an unknown one stays unknown."""
    monkeypatch.setattr("runs.engine.pricing.KNOWN_FIGURES", 3)
    refs = ["anthropic:claude-opus-4-7", "openai:gpt-4o", "google:gemini-2.5-pro"]
    for _ in range(3):
        for ref in refs:
            for usage in USAGES:
                for at in TIMES:
                    assert price(ref, usage, at) == genai_prices_figure(ref, usage, at), (ref, usage, at)
