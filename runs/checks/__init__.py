"""Checks: deterministic verdicts (pass, fail, n/a) on a run's recorded node outputs, tool calls, cost and latency.

Declared in `declarations`, evaluated by the pure functions of `evaluate` over what `records` reads, applied to a
pair of runs by `service` (the compare page and the API); cohorts apply the same functions to many pairs.
"""

from .declarations import Check, CheckOutcome, CheckResult, CheckResults, ChecksBody
from .evaluate import evaluate_pair, judge
from .records import RecordedCall, RecordedRun, recorded_runs
from .service import check_pair, parse_checks

__all__ = [
    "Check",
    "CheckResult",
    "CheckResults",
    "ChecksBody",
    "CheckOutcome",
    "RecordedCall",
    "RecordedRun",
    "check_pair",
    "evaluate_pair",
    "judge",
    "parse_checks",
    "recorded_runs",
]
