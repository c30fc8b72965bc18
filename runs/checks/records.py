"""What checks read of a run: its recorded steps, their tool calls and its totals, as plain values."""

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from runs.compare import RunTotals, StepFacts, steps_of, totals_of
from runs.models import Run


@dataclass(frozen=True)
class RecordedCall:
    tool: str
    arguments: Any


@dataclass
class RecordedRun:
    """A run as its checks see it; built from the database by `recorded_runs`, or by hand in a test."""

    run_id: str
    finished: bool
    duration_ms: int | None
    totals: RunTotals
    steps: list[StepFacts]
    calls: dict[int, list[RecordedCall]] = field(default_factory=dict)  # by step id, in the order made

    def calls_of(self, step: StepFacts | None) -> list[RecordedCall]:
        """The step's tool calls; with no step, every call of the run in node order."""
        if step is not None:
            return self.calls.get(step.id, [])
        return [call for s in self.steps for call in self.calls.get(s.id, [])]


def recorded_runs(*runs: Run, steps: dict[str, list[StepFacts]] | None = None) -> list[RecordedRun]:
    """The runs' steps and tool calls: two queries whatever the number of steps (runs.compare.steps_of), none when
    the caller has read them already (`steps`, as steps_of gives them: the compare page's comparison)."""
    if steps is None or any(run.pk not in steps for run in runs):
        steps = steps_of([run.pk for run in runs])
    calls: dict[int, list[RecordedCall]] = defaultdict(list)
    for step in (s for run_steps in steps.values() for s in run_steps):
        calls[step.id] = [RecordedCall(c.tool, c.arguments) for c in step.calls]
    return [
        RecordedRun(
            run_id=run.pk,
            finished=run.is_finished,
            duration_ms=run.duration_ms,
            totals=totals_of(run, steps[run.pk]),
            steps=steps[run.pk],
            calls=dict(calls),
        )
        for run in runs
    ]
