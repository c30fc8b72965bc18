"""Checks on a pair of runs: the declarations parsed, their nodes found, each evaluated on both runs."""

from typing import Any

from runs.compare import StepFacts, check_comparable
from runs.http.errors import BadRequest
from runs.http.input import parse
from runs.models import Run

from .declarations import KIND_NAMES, CheckResults, ChecksBody
from .evaluate import evaluate_pair, nodes_of
from .records import recorded_runs


def parse_checks(data: Any) -> ChecksBody:
    """The body of `POST …/checks`, or a 400 naming the field (`checks[2].pattern`)."""
    return parse(ChecksBody, data, union_tags=KIND_NAMES)


def check_pair(*, base: Run, other: Run, checks: list, steps: dict[str, list[StepFacts]] | None = None) -> CheckResults:
    """Each check on the base run and the other run. Reads the recorded steps (unless given, as steps_of reads
    them); stores nothing, calls no model.

    The pair follows the compare endpoint's rules (same workflow, two different runs).
    """
    check_comparable(base, other)
    recorded_base, recorded_other = recorded_runs(base, other, steps=steps)
    nodes = nodes_of(recorded_base, recorded_other)
    for i, check in enumerate(checks):
        if check.node is not None and check.node not in nodes:
            raise BadRequest(
                f"checks[{i}].node: no node {check.node!r} in {base.run_id} or {other.run_id}.",
                field=f"checks[{i}].node",
            )
    return CheckResults(
        base=base.run_id, other=other.run_id, results=evaluate_pair(checks, recorded_base, recorded_other)
    )
