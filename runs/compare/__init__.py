"""Comparing two runs of one workflow node by node: rows aligned by node id, then by the replay's node mapping.

The rows carry what each step recorded (status, model, prompt hash, latency, tokens, cost) and whether the
outputs differ; the diff of one row's outputs is computed only when it is asked for (word_diff, json_diff).
"""

from .comparison import (
    DIFFERENT_WORKFLOWS,
    NO_ORIGINAL,
    NOT_A_REPLAY,
    SORTS,
    CannotCompare,
    Comparison,
    RunTotals,
    check_comparable,
    compare,
    compared_runs,
    compared_with,
    left_out_of,
    pair_of,
    root_of,
    totals_of,
)
from .diff import Diff, json_diff, line_diff, output_diff, pretty_json, word_diff
from .rows import Pair, Row, StepFacts, align, canonical_output, latency_of, steps_of

__all__ = [
    "DIFFERENT_WORKFLOWS",
    "NO_ORIGINAL",
    "NOT_A_REPLAY",
    "SORTS",
    "CannotCompare",
    "Comparison",
    "Diff",
    "Pair",
    "Row",
    "RunTotals",
    "StepFacts",
    "align",
    "canonical_output",
    "check_comparable",
    "compare",
    "compared_runs",
    "compared_with",
    "left_out_of",
    "json_diff",
    "latency_of",
    "line_diff",
    "output_diff",
    "pretty_json",
    "pair_of",
    "root_of",
    "steps_of",
    "totals_of",
    "word_diff",
]
