"""What an LLM step cost, from genai-prices' bundled price data (never its updater: no network at run time).

genai-prices works a price out afresh on every call (~0.08 ms: it validates the model's prices and decomposes
the usage into its priced units), though the figure depends only on the model, the price period in force and
the counts. A process remembers the figures it worked out by exactly those, through the library's public
calls only: a replay sends the same prompts again, so its steps mostly find their figure already known.
"""

from datetime import datetime
from decimal import Decimal

import genai_prices
from genai_prices.data_snapshot import get_snapshot

from .providers import Usage

PRICE_VERSION = f"genai-prices {genai_prices.__version__}"
COST_PLACES = Decimal("1e-12")  # Step.cost_usd's precision
KNOWN_FIGURES = 10_000  # figures a process remembers; forgotten all at once when full

# (provider, model, price period's id, counts) -> (the period, the figure): the period is kept, so its id is not
# reused while the entry lives, and checked, so a custom snapshot's period of the same id is never mistaken for it.
_figures: dict[tuple, tuple[object, Decimal | None]] = {}


def price(model_ref: str, usage: Usage, at: datetime) -> Decimal | None:
    """The cost in USD of `usage` on `model_ref` at `at`; None when the model or the counts are unknown, never 0."""
    provider_id, _, model_id = model_ref.partition(":")
    if usage.input_tokens is None or usage.output_tokens is None:
        return None
    try:  # what genai_prices.calc_price looks up first (and caches): the provider and the model
        provider, model = get_snapshot().find_provider_model(model_id, None, provider_id, None)
    except LookupError:  # a provider or model the price data does not know
        return None
    period = model.get_prices(at)  # the prices in force at the step's call
    counts = (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens)
    key = (provider.id, model.id, id(period), counts)
    known = _figures.get(key)
    if known is not None and known[0] is period:
        return known[1]
    counted = genai_prices.Usage(
        input_tokens=usage.input_tokens,  # genai-prices' input_tokens is the total too, cache included
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
    )
    try:  # what genai_prices.calc_price does with them
        figure = model.calc_price(counted, provider, genai_request_timestamp=at).total_price.quantize(COST_PLACES)
    except ValueError:  # counts it refuses (e.g. more cached tokens than input tokens)
        figure = None
    if len(_figures) >= KNOWN_FIGURES:
        _figures.clear()
    _figures[key] = (period, figure)
    return figure
