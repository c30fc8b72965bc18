"""Concurrent branches: a node starts once its `after` have completed, up to RUN_MAX_PARALLEL steps of a run at once.

The branches are http.get tool calls to a local server whose gates hold them (a barrier that releases only when
both are in their steps at once, an answer that waits for another's): no sleeps, and the old sequential executor
fails each test at the gate.
"""

import itertools
import threading

import pytest
from django.db import connection

from runs import services
from runs.engine.executor import INTERRUPTED, execute
from runs.models import OutboxMessage, Run, Step

from .builders import llm, new_run, tool
from .factories import PromptRevisionFactory
from .worker import dispatched_run_ids

GATE_SECONDS = 10  # a gate that is never opened answers 504 after this long (the old executor's fate)


@pytest.fixture
def parallel(settings, tools_reach_local_server):
    settings.RUN_MAX_PARALLEL = 8


def fan(workspace, server, branches=("a", "b"), *, paths=None):
    """Independent http.get branches, then a join that reads them all."""
    revision = PromptRevisionFactory(
        artifact__workspace=workspace,
        content="Join " + " ".join(f"{{{{ nodes.{b}.output }}}}" for b in branches),
    )
    paths = paths or {b: f"/{b}" for b in branches}
    nodes = [tool(b, "http.get", {"url": server.url + paths[b]}) for b in branches]
    nodes.append(llm("join", revision, after=list(branches)))
    for b in branches:
        server.script(paths[b].split("?")[0], [(200, {"branch": b})])
    return services.create_workflow(workspace=workspace, name="Fan", nodes=nodes)


def steps_of(run: Run) -> dict[str, Step]:
    return {s.node_id: s for s in Step.objects.filter(run=run)}


def overlap(first: Step, second: Step) -> bool:
    return first.started_at < second.finished_at and second.started_at < first.finished_at


def test_independent_branches_are_in_their_steps_at_once(acme, local_server, parallel):
    both = threading.Barrier(2, timeout=GATE_SECONDS)
    local_server.gate("/a", both.wait)
    local_server.gate("/b", both.wait)
    run = new_run(fan(acme, local_server))
    execute(run.run_id)
    run.refresh_from_db()
    steps = steps_of(run)
    assert run.status == "completed", run.error
    assert [steps[b].output for b in "ab"] == [
        '{"body": {"branch": "a"}, "status": 200}',
        '{"body": {"branch": "b"}, "status": 200}',
    ]
    assert overlap(steps["a"], steps["b"]) and steps["join"].started_at >= max(steps[b].finished_at for b in "ab")


def test_no_more_than_run_max_parallel_steps_execute_at_once(acme, local_server, parallel, settings):
    settings.RUN_MAX_PARALLEL = 2
    both = threading.Barrier(2, timeout=GATE_SECONDS)
    local_server.gate("/a", both.wait)
    local_server.gate("/b", both.wait)
    run = new_run(fan(acme, local_server, branches=("a", "b", "c")))
    execute(run.run_id)
    steps = steps_of(run)
    assert [steps[b].output.endswith('"status": 200}') for b in "abc"] == [True, True, True]
    assert steps["c"].started_at >= min(steps["a"].finished_at, steps["b"].finished_at)


def test_one_at_a_time_runs_the_versions_order(acme, local_server, tools_reach_local_server, settings):
    settings.RUN_MAX_PARALLEL = 1
    run = new_run(fan(acme, local_server, branches=("a", "b", "c")))
    execute(run.run_id)
    steps = sorted(steps_of(run).values(), key=lambda s: s.started_at)
    assert (
        [s.node_id for s in steps]
        == ["a", "b", "c", "join"]
        == [s.node_id for s in sorted(steps, key=lambda s: s.position)]
    )
    assert all(earlier.finished_at <= later.started_at for earlier, later in itertools.pairwise(steps))


def once_answered(server, path: str):
    """A gate that opens once `path` has answered."""
    answered = server.answered(path)

    def wait():
        if not answered.wait(GATE_SECONDS):
            raise TimeoutError(f"{path} never answered")

    return wait


def test_positions_are_the_versions_order_whatever_order_steps_finish_in(acme, local_server, parallel):
    local_server.gate("/a", once_answered(local_server, "/b"))  # a, first in the version, answers after b
    run = new_run(fan(acme, local_server))
    execute(run.run_id)
    steps = steps_of(run)
    assert {n: s.position for n, s in steps.items()} == {"a": 0, "b": 1, "join": 2}
    assert steps["a"].output.endswith('"status": 200}')


def test_a_failed_branch_fails_the_run_once_its_running_sibling_is_recorded_and_nothing_downstream_starts(
    acme, local_server, parallel, settings
):
    settings.HTTP_TOOL_MAX_BYTES = 100
    both = threading.Barrier(2, timeout=GATE_SECONDS)
    local_server.gate("/big", both.wait)  # a: an answer longer than HTTP_TOOL_MAX_BYTES fails its step
    local_server.gate("/b", both.wait)
    run = new_run(fan(acme, local_server, paths={"a": "/big?bytes=1000", "b": "/b"}))
    execute(run.run_id)
    run.refresh_from_db()
    steps = steps_of(run)
    assert run.status == "failed" and run.error.startswith("Node a failed: ") and "HTTP_TOOL_MAX_BYTES" in run.error
    assert (steps["a"].status, steps["b"].status) == ("failed", "completed") and "join" not in steps
    assert steps["b"].output.endswith('"status": 200}') and run.lease == ""


def held_at_both(server, action):
    """Both branches wait at a barrier; once both are in, `action` runs (in a server thread) before they answer."""

    def act():
        action()
        connection.close()  # the server thread's own connection

    both = threading.Barrier(2, action=act, timeout=GATE_SECONDS)
    server.gate("/a", both.wait)
    server.gate("/b", both.wait)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("action,status", [(services.pause_run, "paused"), (services.cancel_run, "cancelled")])
def test_a_pause_or_cancel_during_parallel_steps_records_them_and_starts_nothing_more(
    acme, local_server, parallel, action, status
):
    run = new_run(fan(acme, local_server))
    held_at_both(local_server, lambda: action(run=Run.objects.get(pk=run.pk)))
    execute(run.run_id)
    run.refresh_from_db()
    steps = steps_of(run)
    assert (run.status, run.lease) == (status, "")
    assert (steps["a"].status, steps["b"].status) == ("completed", "completed") and "join" not in steps


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_run_paused_during_parallel_steps_finishes_once_resumed(acme, local_server, parallel):
    run = new_run(fan(acme, local_server))
    held_at_both(local_server, lambda: services.pause_run(run=Run.objects.get(pk=run.pk)))
    execute(run.run_id)
    services.resume_run(run=Run.objects.get(pk=run.pk))
    assert dispatched_run_ids() == [run.run_id]
    execute(run.run_id)
    run.refresh_from_db()
    assert run.status == "completed" and steps_of(run)["join"].status == "completed"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_resume_while_paused_steps_finish_keeps_the_run_with_its_executor(acme, local_server, parallel):
    """The lease is not let go while steps execute: a resume meanwhile finds the run still held, and it finishes."""

    def pause_and_resume():
        services.pause_run(run=Run.objects.get(pk=run.pk))
        services.resume_run(run=Run.objects.get(pk=run.pk))

    run = new_run(fan(acme, local_server))
    held_at_both(local_server, pause_and_resume)
    execute(run.run_id)
    run.refresh_from_db()
    dispatched_run_ids()  # the resume's message, which finds the run finished
    assert run.status == "completed" and steps_of(run)["join"].status == "completed"


def test_a_lost_workers_parallel_steps_fail_the_mutating_one_as_interrupted_and_run_the_other_again(acme, settings):
    """Recovery: a mutating call that started and was never recorded is not sent again; the run fails once the
    step beside it, which invokes nothing, has been run again and recorded (no step is left running)."""
    settings.RUN_STALE_AFTER = 0
    revision = PromptRevisionFactory(artifact__workspace=acme, content="Hello {{ trigger.name }}")
    version = services.create_workflow(
        workspace=acme,
        name="Send and draft",
        nodes=[
            tool("notify", "messages.send", {"to": "{{ trigger.email }}", "body": "hi"}),
            llm("draft", revision),
            llm("join", revision, after=["notify", "draft"]),
        ],
    )
    run = new_run(version, status="running", lease="dead-worker")
    for position, (node_id, type) in enumerate((("notify", "tool"), ("draft", "llm"))):
        Step.objects.create(run=run, node_id=node_id, type=type, position=position, status="running")
    execute(run.run_id)
    run.refresh_from_db()
    steps = steps_of(run)
    assert run.status == "failed" and run.error == f"Node notify failed: {INTERRUPTED}"
    assert (steps["notify"].status, steps["draft"].status) == ("failed", "completed") and "join" not in steps
    assert not OutboxMessage.objects.exists()
