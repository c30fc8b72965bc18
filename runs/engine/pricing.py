"""What an LLM step cost, from genai-prices' bundled price data (never its updater: no network at run time)."""

from datetime import datetime
from decimal import Decimal

import genai_prices

from .providers import Usage

PRICE_VERSION = f"genai-prices {genai_prices.__version__}"
COST_PLACES = Decimal("1e-12")  # Step.cost_usd's precision


def price(model_ref: str, usage: Usage, at: datetime) -> Decimal | None:
    """The cost in USD of `usage` on `model_ref` at `at`; None when the model or the counts are unknown, never 0."""
    provider, _, model_id = model_ref.partition(":")
    if usage.input_tokens is None or usage.output_tokens is None:
        return None
    counted = genai_prices.Usage(
        input_tokens=usage.input_tokens,  # genai-prices' input_tokens is the total too, cache included
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
    )
    try:
        calculation = genai_prices.calc_price(counted, model_id, provider_id=provider, genai_request_timestamp=at)
    except LookupError:  # a provider or model the price data does not know
        return None
    except ValueError:  # counts it refuses (e.g. more cached tokens than input tokens)
        return None
    return calculation.total_price.quantize(COST_PLACES)
