"""JSON values both databases store: the one walk that input refuses with and tool results are encoded by.

Neither database stores everything Python's json reads: SQLite's JSON check refuses NaN and Infinity and
nesting deeper than 1,000 levels; PostgreSQL stores no NUL (U+0000) in text or jsonb and no lone UTF-16
surrogate (U+D800 to U+DFFF unpaired), which is not Unicode text at all. Input that carries one is refused
(`problem`); a value a tool returned is encoded so it can be stored (`storable`).
"""

import json
import math
from typing import Any

# SQLite refuses JSON nested deeper than 1,000 levels; no document a workflow means to keep needs a tenth of it,
# and every page that renders a value walks it recursively.
MAX_DEPTH = 100
REPLACEMENT = "\ufffd"
NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


class Unstorable(ValueError):
    """A value that cannot be stored as written, with why (a phrase: "nested deeper than 100 levels")."""


def text_problem(text: str) -> str | None:
    """Why a string cannot be stored: a NUL character or a lone surrogate; None when it can."""
    if "\x00" in text:
        return "a NUL (U+0000) character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "a lone UTF-16 surrogate (U+D800 to U+DFFF), which is not text"
    return None


def problem(value: Any) -> str | None:
    """Why a parsed JSON value cannot be stored as written (the first problem found), or None."""
    found = problem_at(value)
    return found[1] if found else None


def problem_at(value: Any) -> tuple[tuple[int | str, ...], str] | None:
    """Where (keys and indexes from the root) and why a parsed JSON value cannot be stored, or None."""
    stack: list[tuple[Any, tuple[int | str, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            found = text_problem(item)
        elif isinstance(item, float):
            found = None if math.isfinite(item) else "a number that is not finite (NaN or Infinity)"
        elif isinstance(item, dict | list):
            if len(path) >= MAX_DEPTH:
                return path, f"nesting deeper than {MAX_DEPTH} levels"
            if isinstance(item, list):
                stack.extend((child, (*path, i)) for i, child in enumerate(item))
                found = None
            else:
                for key, child in item.items():
                    if isinstance(key, str) and (bad_key := text_problem(key)):
                        return (*path, storable_text(key)), f"{bad_key} in a key"
                    stack.append((child, (*path, key)))
                found = None
        else:
            found = None
        if found:
            return path, found
    return None


def storable_text(text: str) -> str:
    """The text with each NUL and lone surrogate replaced by U+FFFD; a surrogate pair becomes its character."""
    if text_problem(text) is None:
        return text
    text = text.replace("\x00", REPLACEMENT)
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def storable(value: Any, *, max_bytes: int | None = None) -> Any:
    """The value encoded so both databases store it, or Unstorable naming why it cannot be.

    Non-finite numbers become the strings "NaN", "Infinity" and "-Infinity" (protobuf's JSON mapping does
    the same); NUL characters and lone surrogates in strings and keys become U+FFFD; nesting deeper than
    MAX_DEPTH and an encoding longer than `max_bytes` are refused.
    """
    if problem(value) is not None:
        value = _encoded(value, 1)
    if max_bytes is not None:
        size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
        if size > max_bytes:
            raise Unstorable(f"{size} bytes of JSON, more than the {max_bytes} a step stores")
    return value


def _encoded(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return NON_FINITE[repr(value)]
    if isinstance(value, dict | list):
        if depth > MAX_DEPTH:
            raise Unstorable(f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, list):
            return [_encoded(v, depth + 1) for v in value]
        return {storable_text(str(k)): _encoded(v, depth + 1) for k, v in value.items()}
    return value
