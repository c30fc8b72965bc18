"""Shapes a run's steps for the waterfall in Python, so templates do no arithmetic in loops."""

import json
from dataclasses import dataclass

from .models import Run, Step

STEPS_PAGE = 200


@dataclass
class StepRow:
    step: Step
    offset_pct: float
    width_pct: float
    input_json: str
    tool_calls: list


def waterfall(run: Run, steps: list[Step]) -> list[StepRow]:
    start = run.started_at or (steps[0].started_at if steps else None)
    ends = [s.finished_at or s.started_at for s in steps]
    end = run.finished_at or (max(ends) if ends else None)
    total = (end - start).total_seconds() if start and end and end > start else 0.0
    rows = []
    for step in steps:
        if total > 0:
            offset = max(0.0, (step.started_at - start).total_seconds() / total * 100)
            finished = step.finished_at or end
            width = max(0.4, (finished - step.started_at).total_seconds() / total * 100)
            width = min(width, 100 - min(offset, 99.6))
        else:
            offset, width = 0.0, 100.0
        rows.append(StepRow(step, round(offset, 2), round(width, 2), json.dumps(step.input, indent=2, sort_keys=True),
                            list(step.tool_calls.all())))
    return rows


def pretty_json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
