"""Diffs of one row's outputs, computed when the row is opened: words for text, lines for canonical JSON."""

import json
import re
from dataclasses import dataclass

from django.conf import settings
from rapidfuzz.distance import Indel

from runs.jsonvalues import storable_text

from .rows import Row, canonical_output

_WORDS = re.compile(r"\s*\S+\s*|\s+")  # a word with its surrounding spaces: lone spaces would match everywhere


@dataclass(frozen=True)
class DiffPiece:
    op: str  # "equal" | "insert" | "delete"
    text: str


@dataclass
class Diff:
    pieces: list[DiffPiece]
    stopped_at: int | None = None  # characters of each side diffed, when the limit cut it short


def _limited(a: str, b: str) -> tuple[str, str, int | None]:
    limit = settings.COMPARE_DIFF_MAX_CHARS
    if len(a) <= limit and len(b) <= limit:
        return a, b, None
    return a[:limit], b[:limit], limit


def _diff(tokens_a: list[str], tokens_b: list[str], stopped: int | None) -> Diff:
    """The longest common subsequence of the tokens (rapidfuzz's Indel, in C++); in each change, deletions first."""
    pieces: list[DiffPiece] = []
    deleted: list[str] = []
    inserted: list[str] = []

    def flush() -> None:
        if deleted:
            pieces.append(DiffPiece("delete", "".join(deleted)))
        if inserted:
            pieces.append(DiffPiece("insert", "".join(inserted)))
        deleted.clear()
        inserted.clear()

    for op in Indel.opcodes(tokens_a, tokens_b):
        if op.tag == "equal":
            flush()
            pieces.append(DiffPiece("equal", "".join(tokens_a[op.src_start : op.src_end])))
            continue
        deleted.extend(tokens_a[op.src_start : op.src_end])
        inserted.extend(tokens_b[op.dest_start : op.dest_end])
    flush()
    return Diff(pieces, stopped)


def word_diff(a: str, b: str) -> Diff:
    """Word by word, each word with its spaces, so that text put back together from the pieces is exact."""
    a, b, stopped = _limited(a, b)
    return _diff(_WORDS.findall(a), _WORDS.findall(b), stopped)


def line_diff(a: str, b: str) -> Diff:
    """Line by line, for canonical JSON (tool arguments and results)."""
    a, b, stopped = _limited(a, b)
    return _diff(a.splitlines(keepends=True), b.splitlines(keepends=True), stopped)


def output_diff(row: Row) -> Diff:
    a = canonical_output(row.base) if row.base else ""
    b = canonical_output(row.other) if row.other else ""
    kind = (row.base or row.other).type  # type: ignore[union-attr]
    return line_diff(a, b) if kind == "tool" else word_diff(a, b)


def pretty_json(value) -> str:
    """JSON as every page shows it, and as a diff compares it: indented, keys sorted, always encodable text."""
    return storable_text(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


def json_diff(a, b) -> Diff | None:
    """A line diff of two JSON values as canonical JSON, or None when they are the same value."""
    if a == b:
        return None
    dump = pretty_json
    return line_diff(dump(a), dump(b))
