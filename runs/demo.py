"""Demo runs that look like real ones: the simulator answers in no time, a provider in seconds.

`seed_demo` executes its runs with the simulator, then lays their steps out with durations a real
provider and real tools would take, derived from each step's (simulated) tokens. Deterministic, so
seeding again changes nothing; the steps stay labelled simulated.
"""

import hashlib
from datetime import timedelta

from django.db import transaction

from .models import Run, Step

QUEUE_MS = 120  # from the trigger to the worker's claim
GAP_MS = 6  # between two steps: the step boundary's commit
LLM_BASE_MS = 450  # time to first token
LLM_MS_PER_OUTPUT_TOKEN = 22  # about 45 tokens a second
LLM_MS_PER_INPUT_TOKEN = 0.08
TOOL_MS = (35, 240)


def _jitter(step: Step, spread: float) -> float:
    """A stable factor in [1 - spread, 1 + spread] per run and node."""
    byte = hashlib.sha256(f"{step.run_id}/{step.node_id}".encode()).digest()[0]
    return 1 - spread + 2 * spread * byte / 255


def step_duration_ms(step: Step) -> int:
    if step.type == "llm":
        tokens_ms = LLM_MS_PER_OUTPUT_TOKEN * (step.output_tokens or 0) + LLM_MS_PER_INPUT_TOKEN * (
            step.input_tokens or 0
        )
        return round((LLM_BASE_MS + tokens_ms) * _jitter(step, 0.25))
    low, high = TOOL_MS
    return round(low + (high - low) * (_jitter(step, 0.5) - 0.5))


def lay_out_like_real_runs(runs) -> int:
    """Give the finished, simulated runs' steps realistic start and finish times; returns how many runs changed.

    Runs are laid out one after another back from the latest, each ending before the next one was
    created, so a replay still comes after the run it replays; re-laying them changes nothing.
    """
    shaped = 0
    next_created = None
    for run in sorted(runs, key=lambda r: r.created_at, reverse=True):
        if not run.simulated or not run.is_finished or run.finished_at is None:
            continue
        finished = run.finished_at
        if next_created is not None:
            finished = min(finished, next_created - timedelta(milliseconds=QUEUE_MS))
        steps = list(run.steps.order_by("position"))
        durations = [step_duration_ms(step) for step in steps]
        started = finished - timedelta(milliseconds=sum(durations) + GAP_MS * (len(steps) + 1))
        cursor = started
        for step, duration in zip(steps, durations, strict=True):
            step.started_at = cursor + timedelta(milliseconds=GAP_MS)
            step.finished_at = step.started_at + timedelta(milliseconds=duration)
            if step.type == "llm" and step.latency_ms is not None:
                step.latency_ms = max(1, duration - 4)
            cursor = step.finished_at
        next_created = started - timedelta(milliseconds=QUEUE_MS)
        with transaction.atomic():
            Step.objects.bulk_update(steps, ["started_at", "finished_at", "latency_ms"])
            Run.objects.filter(pk=run.pk).update(created_at=next_created, started_at=started, finished_at=finished)
        shaped += 1
    return shaped
