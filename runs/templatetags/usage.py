"""Tokens and costs for people ($0.0123, 1.2k tokens), the exact value always in a title."""

from decimal import Decimal

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from runs.models import Step
from runs.usage import RunUsage, decimal_string

register = template.Library()

SMALLEST_SHOWN = Decimal("0.0001")


@register.filter
def tokens(count: int | None) -> str:
    """1.2k tokens, 3.4M tokens; "—" when the provider did not say."""
    if count is None:
        return "—"
    if count < 1000:
        return str(count)
    value, unit = (count / 1000, "k") if count < 999_950 else (count / 1_000_000, "M")
    return f"{value:.1f}".removesuffix(".0") + unit


@register.filter
def exact_tokens(count: int | None) -> str:
    return "unknown" if count is None else f"{count:,}"


@register.filter
def usd(cost: Decimal | float | str | None) -> str:
    """$0.0123 (three significant digits under a dollar), $12.34 above; "unknown" when the price is unknown.
    A figure read back from JSON (a kept verdict) is taken as the decimal it prints as."""
    if cost is None:
        return "unknown"
    cost = cost if isinstance(cost, Decimal) else Decimal(str(cost))
    if cost == 0:
        return "$0"
    if cost < SMALLEST_SHOWN:
        return "<$0.0001"
    if cost >= 1:
        return f"${cost:,.2f}"
    return f"${cost.quantize(Decimal(1).scaleb(cost.adjusted() - 2)):f}"


@register.filter
def usd_range(estimate: tuple[Decimal, Decimal] | None) -> str:
    """An estimate as low–high; one figure when both ends show the same ("$0" for a plan that calls no model)."""
    if estimate is None:
        return "unknown"
    low, high = usd(estimate[0]), usd(estimate[1])
    return low if low == high else f"{low}–{high}"


@register.filter
def exact_usd(cost: Decimal | None) -> str:
    return "unknown" if cost is None else f"${decimal_string(cost)}"


def _tokens_title(step: Step) -> str:
    cache = [
        f"{exact_tokens(n)} {what}"
        for n, what in ((step.cache_read_tokens, "cache read"), (step.cache_write_tokens, "cache write"))
        if n
    ]
    reasoning = f" ({exact_tokens(step.reasoning_tokens)} reasoning)" if step.reasoning_tokens else ""
    return (
        f"{exact_tokens(step.input_tokens)} input tokens{' (' + ', '.join(cache) + ')' if cache else ''}"
        f" · {exact_tokens(step.output_tokens)} output tokens{reasoning}"
    )


def _cost_title(step: Step) -> str:
    if step.cost_usd is None:
        return f"{step.price_version or 'The price data'} has no price for {step.model_ref}: the cost is unknown"
    simulated = " · simulated usage, not a provider's figure" if step.simulated else ""
    latency = f" · provider call {step.latency_ms:,} ms" if step.latency_ms is not None else ""
    return f"{exact_usd(step.cost_usd)} ({step.price_version}){simulated}{latency}"


@register.filter
def step_usage(step: Step) -> SafeString | str:
    """A finished LLM step's tokens in and out and its cost, for its row in the trace."""
    if step.type != "llm" or step.status == Step.Status.RUNNING or step.latency_ms is None:
        return ""
    return format_html(
        '<span class="step-usage"><span title="{}">{} in · {} out</span>'
        ' · <span class="{}" title="{}">{}{}</span></span>',
        _tokens_title(step),
        tokens(step.input_tokens),
        tokens(step.output_tokens),
        "cost-unknown" if step.cost_usd is None else "cost",
        _cost_title(step),
        usd(step.cost_usd),
        " (simulated)" if step.simulated else "",
    )


@register.filter
def run_cost(usage: RunUsage) -> SafeString:
    """A run's total cost: "—" when no model was called, "unknown" when a call has no price, else the sum."""
    if not usage.llm_steps:
        return SafeString('<span class="muted" title="No model was called">—</span>')
    if not usage.cost_complete:
        return SafeString(
            '<span class="cost-unknown" title="At least one model call has no known price, so the total is unknown">'
            "unknown</span>"
        )
    if usage.simulated:
        return format_html(
            '<span class="cost" title="{} · from simulated usage, not a provider\'s figure">{}</span>'
            ' <span class="badge badge-simulated">simulated</span>',
            exact_usd(usage.cost_usd),
            usd(usage.cost_usd),
        )
    return format_html('<span class="cost" title="{}">{}</span>', exact_usd(usage.cost_usd), usd(usage.cost_usd))
