"""The one integer parser of everything a client or a workflow sends as text: ASCII digits within a range.

`str.isdigit()` accepts "²" and "١٢", which `int()` then refuses or reads, and Python's ints have no bound, which
a 64-bit column has: every integer parameter goes through `ascii_int` instead.
"""

from typing import Any

MAX_DIGITS = 18  # below 2**63 whatever the digits, so nothing parsed here overflows a 64-bit column


def ascii_int(value: Any, *, low: int, high: int) -> int | None:
    """An int (not a bool) or a string of ASCII digits (an optional "-", spaces around), within [low, high].

    None for anything else: the caller says what it expected in its own words, or falls back to a default.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        digits = text.removeprefix("-")
        if not digits or len(digits) > MAX_DIGITS or not (digits.isascii() and digits.isdigit()):
            return None
        value = int(text)
    if not isinstance(value, int) or not low <= value <= high:
        return None
    return value


MAX_POSITION = 2**31 - 1  # a step's position and an offset into rows: an integer column on both databases
