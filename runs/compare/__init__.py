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
    compare,
    compared_runs,
    pair_of,
)
from .diff import Diff, json_diff, line_diff, output_diff, pretty_json, word_diff
from .rows import Pair, Row, StepFacts, align

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
    "StepFacts",
    "align",
    "compare",
    "compared_runs",
    "json_diff",
    "line_diff",
    "output_diff",
    "pretty_json",
    "pair_of",
    "word_diff",
]
