"""Builders for cohort tests: members made through the real services."""

from replay.cohorts.services import create_cohort
from replay.rules import membership_for_replay
from runs.models import Run

from .builders import run_in_status


def completed_runs(version, n, **fields) -> list[Run]:
    """`n` finished originals (no steps executed: enough for the rules, the plan and admission)."""
    return [run_in_status(version, "completed", **fields) for _ in range(n)]


def body(workflow, *, run_ids=None, filter=None, replay=None, **extra) -> dict:
    data = {"name": "Nightly", "workflow_id": workflow.workflow_id, "replay": replay or {"mode": "as_is"}, **extra}
    if filter is not None:
        data["filter"] = filter
    else:
        data["run_ids"] = run_ids
    return data


def new_cohort(user, workspace, data, idempotency_key=""):
    cohort, _ = create_cohort(
        membership=membership_for_replay(user, workspace.pk), data=data, idempotency_key=idempotency_key
    )
    return cohort
