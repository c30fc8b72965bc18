"""What an LLM step cost, from genai-prices' bundled price data (never its updater: no network at run time).

genai-prices validates a model's prices and works out which priced units are more specific than which on
every call, though both depend only on the price period, not on the usage. Here that part is worked out once
per price period and process (`_plan`); the usage is then decomposed and priced exactly as
`ModelPrice.calc_price` does it, with the library's own functions (tests/test_pricing.py compares the two).
"""

from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

import genai_prices
from genai_prices import types
from genai_prices._usage import subtract_usage_values
from genai_prices.data_snapshot import get_snapshot
from genai_prices.decompose import is_descendant_or_self
from genai_prices.units import _get_registry
from genai_prices.validation import validate_priced_units

from .providers import Usage

PRICE_VERSION = f"genai-prices {genai_prices.__version__}"
COST_PLACES = Decimal("1e-12")  # Step.cost_usd's precision


class PricePlan(NamedTuple):
    # Each priced usage key and the more specific ones counted inside it, most specific first (the decomposition).
    decomposition: tuple[tuple[str, tuple[str, ...]], ...]
    prices: tuple[tuple[str, Any, int], ...]  # (usage key, Decimal | TieredPrices, per), in genai-prices' order
    tiered: bool  # some price depends on the total input tokens


# One plan per price period (a ModelPrice of the bundled data: immutable), by identity; None: prices it refuses.
_PLANS: dict[int, tuple[types.ModelPrice, PricePlan | None]] = {}


def _plan(model_price: types.ModelPrice) -> PricePlan | None:
    """What ModelPrice.calc_price works out before it looks at the usage: the validated prices, in its order."""
    cached = _PLANS.get(id(model_price))
    if cached is not None and cached[0] is model_price:
        return cached[1]
    registry = _get_registry()
    try:
        resolved = types._collect_resolved_model_prices(model_price, registry)
        validate_priced_units(tuple(unit for unit, _ in resolved), registry)
    except ValueError:
        plan = None
    else:
        priced = sorted(
            (unit for unit, _ in resolved if unit.usage_key != "requests"),
            key=lambda unit: (-len(unit.dimensions), unit.usage_key),
        )
        plan = PricePlan(
            decomposition=tuple(
                (unit.usage_key, tuple(d.usage_key for d in priced if d is not unit and is_descendant_or_self(unit, d)))
                for unit in priced
            ),
            prices=tuple((unit.usage_key, price, unit.per) for unit, price in resolved),
            tiered=any(isinstance(price, types.TieredPrices) for _, price in resolved),
        )
    _PLANS[id(model_price)] = (model_price, plan)
    return plan


def _total(plan: PricePlan, usage: types.Usage) -> Decimal:
    """ModelPrice.calc_price's total, from the plan; ValueError for usage it refuses (a negative decomposition)."""
    usage = types.Usage.from_raw(usage)
    counts: dict[str, Any] = {"requests": 1}
    for key, more_specific in plan.decomposition:  # decompose.compute_leaf_values, its order worked out once
        reported = getattr(usage, key, None)
        count = subtract_usage_values(0 if reported is None else reported, (counts[k] for k in more_specific))
        if count < 0:
            raise ValueError(f"more specific usage exceeds {key}")
        counts[key] = count
    total_input_tokens = usage.input_tokens if plan.tiered else 0
    total = Decimal(0)
    for key, unit_price, per in plan.prices:
        total += types.calc_unit_price(unit_price, counts[key], total_input_tokens, per)
    return total


def price(model_ref: str, usage: Usage, at: datetime) -> Decimal | None:
    """The cost in USD of `usage` on `model_ref` at `at`; None when the model or the counts are unknown, never 0."""
    provider_id, _, model_id = model_ref.partition(":")
    if usage.input_tokens is None or usage.output_tokens is None:
        return None
    counted = types.Usage(
        input_tokens=usage.input_tokens,  # genai-prices' input_tokens is the total too, cache included
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
    )
    try:
        provider, model = get_snapshot().find_provider_model(model_id, None, provider_id, None)
    except LookupError:  # a provider or model the price data does not know
        return None
    try:
        if provider.id == "groq":  # genai-prices bills some of its models by a rule of their own: let it price them
            return model.calc_price(counted, provider, genai_request_timestamp=at).total_price.quantize(COST_PLACES)
        plan = _plan(model.get_prices(at))  # the price period in force at the step's start
        if plan is None:
            return None
        return _total(plan, counted).quantize(COST_PLACES)
    except ValueError:  # counts it refuses (e.g. more cached tokens than input tokens)
        return None
