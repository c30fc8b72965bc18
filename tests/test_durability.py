"""Which step boundaries wait for PostgreSQL's WAL flush: every one that a crash must not lose, and no other."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from runs.engine.durability import ASYNC_COMMIT, commit_waits_for_flush
from runs.engine.executor import execute
from runs.engine.lease import claim
from runs.engine.step_boundary import StepBoundary, StepOutcome
from runs.models import Run, Step

from .builders import chain_workflow, finished_run, new_run, support_workflow

on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="synchronous_commit is PostgreSQL's")


def call(*, mutating: bool, dry_run: bool) -> dict:
    return {"tool": "messages.send", "mutating": mutating, "dry_run": dry_run, "arguments": {}, "result": {}}


@pytest.mark.parametrize(
    ("recorded_call", "starts_mutating_call", "final", "waits"),
    [
        (None, False, False, False),  # an LLM step recorded (or none yet), an LLM or read-only step starts
        (call(mutating=False, dry_run=False), False, False, False),  # a read-only tool call recorded
        (call(mutating=True, dry_run=True), False, False, False),  # a dry-run: nothing was sent
        (call(mutating=True, dry_run=False), False, False, True),  # a mutating call really invoked
        (None, True, False, True),  # a mutating call is about to be invoked
        (None, False, True, True),  # the run's final transition
    ],
)
def test_only_boundaries_a_crash_may_lose_commit_without_waiting(recorded_call, starts_mutating_call, final, waits):
    assert (
        commit_waits_for_flush(recorded_call=recorded_call, starts_mutating_call=starts_mutating_call, final=final)
        is waits
    )


def synchronous_commit() -> str:
    """The setting in the current transaction (the test's): what the boundary's commit would have used."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


def claimed(workspace) -> tuple[Run, StepBoundary]:
    version, _ = chain_workflow(workspace, 3)
    run = new_run(version)
    assert claim(run.pk, "lease-a")
    return run, StepBoundary(run.pk, "lease-a")


@on_postgresql
def test_starting_an_llm_step_does_not_wait_for_the_flush(acme):
    _, boundary = claimed(acme)
    assert synchronous_commit() == "on"
    boundary.start(node_id="n0", type="llm", position=0, mapped_from="")
    assert synchronous_commit() == "off"


@on_postgresql
def test_starting_a_mutating_call_waits_for_the_flush(acme):
    _, boundary = claimed(acme)
    boundary.start(node_id="n0", type="tool", position=0, mapped_from="", invokes_mutation=True)
    assert synchronous_commit() == "on"


@on_postgresql
def test_recording_an_invoked_mutating_call_waits_for_the_flush(acme):
    _, boundary = claimed(acme)
    step_id = boundary.start(node_id="n0", type="tool", position=0, mapped_from="", invokes_mutation=True)
    boundary.outcome = StepOutcome(
        step_id, Step.Status.COMPLETED, timezone.now(), {"output": "{}"}, call(mutating=True, dry_run=False)
    )
    boundary.start(node_id="n1", type="llm", position=1, mapped_from="")
    assert synchronous_commit() == "on"


@on_postgresql
def test_completing_the_run_waits_for_the_flush(acme):
    _, boundary = claimed(acme)
    step_id = boundary.start(node_id="n0", type="llm", position=0, mapped_from="")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO on")  # undo the start's, to see what completing sets
    boundary.outcome = StepOutcome(step_id, Step.Status.COMPLETED, timezone.now(), {"output": "x"})
    assert boundary.complete()
    assert synchronous_commit() == "on"


def boundary_waits(run_id: str) -> list[bool]:
    """For each step boundary a run's execution crosses, whether its commit waited for the flush."""
    with CaptureQueriesContext(connection) as ctx:
        execute(run_id)
    crossings = [q["sql"] for q in ctx.captured_queries if "lease = " in q["sql"] and "WITH" in q["sql"]]
    return [ASYNC_COMMIT.strip(", ") not in sql for sql in crossings]


@on_postgresql
def test_a_run_that_sends_a_message_waits_for_the_flush_from_the_send_on(acme):
    version, _ = support_workflow(acme)
    run = new_run(version)
    # start the draft (async), start the send (waits: it is invoked next), record it and complete (waits)
    assert boundary_waits(run.run_id) == [False, True, True]
    assert Run.objects.get(pk=run.pk).status == "completed"


@on_postgresql
def test_a_replay_that_dry_runs_the_send_waits_only_for_its_completion(acme):
    version, _ = support_workflow(acme)
    original = finished_run(version)
    replay = new_run(version, replay_of=original, replay_depth=1, mode="as_is")
    assert boundary_waits(replay.run_id) == [False, False, True]
    assert Step.objects.get(run=replay, node_id="notify").tool_calls.get().dry_run
