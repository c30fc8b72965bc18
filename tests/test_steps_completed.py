"""Run.steps_completed: counted in the commit that records each completed step, so lists never count steps."""

import importlib

from django.apps import apps
from django.utils import timezone

from runs import services
from runs.engine.lease import claim
from runs.engine.step_boundary import StepBoundary, StepOutcome
from runs.models import Run, Step

from .builders import chain_workflow, executed_replay, finished_run, new_run


def claimed(workspace, length=3) -> tuple[Run, StepBoundary]:
    run = new_run(chain_workflow(workspace, length)[0])
    assert claim(run.pk, "lease-a")
    return run, StepBoundary(run.pk, "lease-a")


def outcome(step_id, status=Step.Status.COMPLETED) -> StepOutcome:
    return StepOutcome(step_id, status, timezone.now(), {"output": "out"}, error="" if status == "completed" else "x")


def completed_count(run) -> int:
    return Run.objects.values_list("steps_completed", flat=True).get(pk=run.pk)


def test_an_executed_run_counts_each_completed_step(acme):
    run = finished_run(chain_workflow(acme, length=3)[0])
    assert run.steps_completed == 3 == run.steps.filter(status="completed").count()


def test_a_failed_step_is_not_counted(acme):
    run, boundary = claimed(acme)
    first = boundary.start(node_id="n0", type="llm", position=0, mapped_from="")
    boundary.outcome = outcome(first)
    second = boundary.start(node_id="n1", type="llm", position=1, mapped_from="")
    boundary.outcome = outcome(second, Step.Status.FAILED)
    boundary.fail("Node n1 failed: x")
    assert completed_count(run) == 1


def test_a_step_recorded_after_a_pause_is_still_counted(acme):
    run, boundary = claimed(acme)
    first = boundary.start(node_id="n0", type="llm", position=0, mapped_from="")
    services.pause_run(run=run)
    boundary.outcome = outcome(first)
    assert boundary.start(node_id="n1", type="llm", position=1, mapped_from="") is None
    assert completed_count(run) == 1


def test_the_last_step_is_counted_when_a_cancel_came_before_the_completion(acme):
    run, boundary = claimed(acme, length=1)
    only = boundary.start(node_id="n0", type="llm", position=0, mapped_from="")
    services.cancel_run(run=run)
    boundary.outcome = outcome(only)
    assert not boundary.complete()
    assert completed_count(run) == 1


def test_a_flushed_step_is_counted(acme):
    run, boundary = claimed(acme)
    boundary.outcome = outcome(boundary.start(node_id="n0", type="llm", position=0, mapped_from=""))
    boundary.flush()
    assert completed_count(run) == 1


def test_reused_steps_count_as_completed(acme, operator):
    source = finished_run(chain_workflow(acme, length=4)[0])
    rerun = executed_replay(user=operator, run=source, request={"mode": "as_is", "from_nodes": ["n2"]})
    assert rerun.steps.exclude(reused_from_run_id="").count() == 2
    assert rerun.steps_completed == 4


def test_the_migration_counts_the_completed_steps_of_existing_runs(acme):
    done = finished_run(chain_workflow(acme, length=3)[0])
    untouched = new_run(done.version)
    Run.objects.update(steps_completed=0)
    migration = importlib.import_module("runs.migrations.0008_backfill_steps_completed")
    migration.backfill(apps, None)
    assert (completed_count(done), completed_count(untouched)) == (3, 0)
