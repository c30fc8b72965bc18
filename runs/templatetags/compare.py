"""Changes between two runs for people: signed deltas and percentages, and a diff rendered as <ins>/<del>."""

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def signed(value) -> str:
    """+12, −3, ±0; "—" when either side is unknown."""
    if value is None:
        return "—"
    if isinstance(value, float):
        value = round(value, 1)
    if isinstance(value, Decimal):
        value = value.normalize()
    if value > 0:
        return f"+{value:f}" if isinstance(value, Decimal) else f"+{value}"
    if value < 0:
        return f"−{-value:f}" if isinstance(value, Decimal) else f"−{-value}"
    return "±0"


@register.filter
def percent(value: float | None) -> str:
    """(+5.0%), or nothing when there is no base to compare with."""
    if value is None:
        return ""
    return f"({signed(round(value, 1))}%)"


@register.filter
def total(comparison, name: str):
    """comparison|total:"cost_usd": both runs' figure and its change (a Pair)."""
    return comparison.total(name)


@register.filter
def abs_value(value):
    return abs(value) if value is not None else None
