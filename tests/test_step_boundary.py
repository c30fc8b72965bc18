"""The step boundary: the finished step, its tool call and the next step's start land in one commit."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from runs import services
from runs.engine.executor import execute
from runs.engine.lease import DRAINING, beat_interval, claim
from runs.engine.step_boundary import StepBoundary, StepOutcome
from runs.models import Run, Step, ToolCall

from .builders import chain_workflow, new_run
from .worker import dispatched_run_ids, purge_broker


def claimed_run(workspace, length=3) -> tuple[Run, StepBoundary]:
    version, _ = chain_workflow(workspace, length)
    run = new_run(version)
    assert claim(run.pk, "lease-a")
    return run, StepBoundary(run.pk, "lease-a")


def test_a_claimed_run_carries_every_column_as_the_orm_reads_it(acme):
    """JSON as values, datetimes aware, the same types as a query gives, and whether it had steps."""
    version, _ = chain_workflow(acme, 2)
    run = new_run(version, overrides={"n0": {"model": "anthropic:claude-opus-4-7"}}, node_mapping={"a": "n0"})
    claimed = claim(run.pk, "lease-a")
    assert claimed is not None and not claimed.had_steps
    read = Run.objects.get(pk=run.pk)
    for field in Run._meta.concrete_fields:
        ours, orm = getattr(claimed, field.attname), getattr(read, field.attname)
        assert (ours, type(ours)) == (orm, type(orm)), field.name
    assert not claimed._state.adding and claimed._state.db == "default"


def finished(step_id, **fields) -> StepOutcome:
    return StepOutcome(
        step_id,
        Step.Status.COMPLETED,
        timezone.now(),
        {"input": {"prompt": "p"}, "output": "out", "model_ref": "anthropic:m", **fields},
    )


def test_a_boundary_records_the_finished_step_and_starts_the_next(acme):
    run, boundary = claimed_run(acme)
    first = boundary.start(node_id="n0", type="llm", position=0, mapped_from="")
    boundary.outcome = finished(first, prompt_hash="sha256:" + "a" * 64, simulated=True)
    second = boundary.start(node_id="n1", type="llm", position=1, mapped_from="was_n1")

    done, started = Step.objects.get(pk=first), Step.objects.get(pk=second)
    assert (done.status, done.output, done.input, done.model_ref, done.simulated) == (
        "completed",
        "out",
        {"prompt": "p"},
        "anthropic:m",
        True,
    )
    assert done.finished_at is not None and done.finished_at >= done.started_at
    assert (started.status, started.position, started.mapped_from, started.finished_at) == (
        "running",
        1,
        "was_n1",
        None,
    )


def test_a_boundary_leaves_a_heartbeat_fresher_than_the_beat_interval_alone(acme):
    run, boundary = claimed_run(acme)
    claimed_beat = Run.objects.get(pk=run.pk).heartbeat_at
    boundary.start(node_id="n0", type="llm", position=0, mapped_from="")
    assert Run.objects.get(pk=run.pk).heartbeat_at == claimed_beat


@pytest.mark.skipif(connection.vendor != "postgresql", reason="heap-only tuple updates are PostgreSQL's")
def test_boundaries_with_a_fresh_heartbeat_update_the_run_in_place(acme):
    run, boundary = claimed_run(acme, length=4)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_get_xact_tuples_hot_updated(%s::regclass)", [Run._meta.db_table])
        before = cursor.fetchone()[0]
        for position in range(4):
            boundary.start(node_id=f"n{position}", type="llm", position=position, mapped_from="")
            boundary.outcome = finished(Step.objects.get(run=run, node_id=f"n{position}").pk)
        cursor.execute("SELECT pg_stat_get_xact_tuples_hot_updated(%s::regclass)", [Run._meta.db_table])
        assert cursor.fetchone()[0] - before == 4


def test_a_boundary_refreshes_a_heartbeat_older_than_the_beat_interval(acme):
    run, boundary = claimed_run(acme)
    old_beat = timezone.now() - timedelta(seconds=beat_interval() + 1)
    Run.objects.filter(pk=run.pk).update(heartbeat_at=old_beat)
    began = timezone.now()
    boundary.start(node_id="n0", type="llm", position=0, mapped_from="")
    assert Run.objects.get(pk=run.pk).heartbeat_at >= began


def test_a_boundary_records_the_tool_call_with_its_step(acme):
    run, boundary = claimed_run(acme)
    step_id = boundary.start(node_id="n0", type="tool", position=0, mapped_from="")
    boundary.outcome = StepOutcome(
        step_id,
        Step.Status.COMPLETED,
        timezone.now(),
        {"output": "{}"},
        tool_call={
            "tool": "notify.send",
            "mutating": True,
            "dry_run": True,
            "arguments": {"to": "x@example.com"},
            "result": None,
        },
    )
    assert boundary.complete()
    call = ToolCall.objects.get(step_id=step_id)
    assert (call.tool, call.dry_run, call.arguments, call.result) == (
        "notify.send",
        True,
        {"to": "x@example.com"},
        None,
    )
    assert Run.objects.get(pk=run.pk).status == "completed"


def test_a_pause_during_a_step_records_it_and_starts_nothing_more(acme):
    run, boundary = claimed_run(acme)
    first = boundary.start(node_id="n0", type="llm", position=0, mapped_from="")
    services.pause_run(run=run)
    boundary.outcome = finished(first)
    assert boundary.start(node_id="n1", type="llm", position=1, mapped_from="") is None

    assert list(Step.objects.filter(run=run).values_list("node_id", "status")) == [("n0", "completed")]
    run.refresh_from_db()
    assert (run.status, run.lease) == ("paused", "")


def test_a_run_taken_over_by_another_lease_gets_no_further_step_from_the_old_one(acme):
    run, boundary = claimed_run(acme)
    boundary.start(node_id="n0", type="llm", position=0, mapped_from="")
    Run.objects.filter(pk=run.pk).update(lease="lease-b")
    assert boundary.start(node_id="n1", type="llm", position=1, mapped_from="") is None
    assert not boundary.complete()
    assert Step.objects.filter(run=run).count() == 1
    assert Run.objects.get(pk=run.pk).lease == "lease-b"


def test_a_step_already_recorded_by_another_executor_is_not_started_twice(acme):
    run, boundary = claimed_run(acme)
    Step.objects.create(run=run, node_id="n0", type="llm", position=0)
    assert boundary.start(node_id="n0", type="llm", position=0, mapped_from="") is None
    assert Step.objects.filter(run=run).count() == 1


def test_a_simulated_completion_marks_the_run_with_the_next_commit(acme):
    run, boundary = claimed_run(acme)
    boundary.start(node_id="n0", type="llm", position=0, mapped_from="")
    boundary.simulated = True
    assert not Run.objects.get(pk=run.pk).simulated
    boundary.start(node_id="n1", type="llm", position=1, mapped_from="")
    assert Run.objects.get(pk=run.pk).simulated


def test_failing_records_the_failed_step_and_fails_the_run_together(acme):
    run, boundary = claimed_run(acme)
    step_id = boundary.start(node_id="n0", type="llm", position=0, mapped_from="")
    boundary.outcome = StepOutcome(step_id, Step.Status.FAILED, timezone.now(), {}, error="provider said no")
    boundary.fail("Node n0 failed: provider said no")
    step, run = Step.objects.get(pk=step_id), Run.objects.get(pk=run.pk)
    assert (step.status, step.error) == ("failed", "provider said no")
    assert (run.status, run.error, run.lease) == ("failed", "Node n0 failed: provider said no", "")


def test_a_ten_step_run_commits_once_per_step_boundary(acme, django_assert_max_num_queries):
    version, _ = chain_workflow(acme, 10)
    run = new_run(version)
    # PostgreSQL: the claim, which reads the run, 2 reads (the version's plan and its prompts, each cached per
    # process after this) and 11 single-statement crossings. SQLite runs each crossing's statements one by one.
    with django_assert_max_num_queries(14 if connection.vendor == "postgresql" else 56):
        execute(run.run_id)
    assert Run.objects.get(pk=run.pk).status == "completed"


def test_a_first_execution_with_a_warm_process_reads_nothing_but_its_claim(acme, django_assert_max_num_queries):
    version, _ = chain_workflow(acme, 10)
    execute(new_run(version).run_id)  # the version's plan and its prompts, read once per process
    run = new_run(version)
    with django_assert_max_num_queries(12 if connection.vendor == "postgresql" else 54):
        execute(run.run_id)
    assert Run.objects.get(pk=run.pk).status == "completed"


def test_a_boundary_records_an_llm_steps_usage_and_cost(acme):
    run, boundary = claimed_run(acme)
    step_id = boundary.start(node_id="n0", type="llm", position=0, mapped_from="")
    usage = {
        "input_tokens": 175,
        "output_tokens": 30,
        "cache_read_tokens": 50,
        "cache_write_tokens": 25,
        "reasoning_tokens": None,
        "raw_usage": {"input_tokens": 100, "cache_read_input_tokens": 50},
        "cost_usd": Decimal("0.000123456789"),
        "price_version": "genai-prices 0.2.3",
        "latency_ms": 812,
    }
    boundary.outcome = finished(step_id, **usage)
    assert boundary.complete()
    step = Step.objects.get(pk=step_id)
    assert {name: getattr(step, name) for name in usage} == usage


def test_usage_values_that_are_not_plain_ints_are_adapted_as_the_orm_saves_them(acme):
    """Ints and strings skip the ORM's adaptation on the hot path; a bool, a float or a Decimal still gets it."""
    run, boundary = claimed_run(acme)
    step_id = boundary.start(node_id="n0", type="llm", position=0, mapped_from="")
    boundary.outcome = finished(step_id, input_tokens=True, output_tokens=Decimal("30"), latency_ms=812.0)
    assert boundary.complete()
    step = Step.objects.get(pk=step_id)
    assert [(v, type(v)) for v in (step.input_tokens, step.output_tokens, step.latency_ms)] == [
        (1, int),
        (30, int),
        (812, int),
    ]


def test_a_tool_step_records_no_usage(acme):
    run, boundary = claimed_run(acme)
    step_id = boundary.start(node_id="n0", type="tool", position=0, mapped_from="")
    boundary.outcome = StepOutcome(step_id, Step.Status.COMPLETED, timezone.now(), {"output": "{}"})
    assert boundary.complete()
    step = Step.objects.get(pk=step_id)
    assert (step.input_tokens, step.raw_usage, step.cost_usd, step.price_version, step.latency_ms) == (
        None,
        None,
        None,
        "",
        None,
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_on_postgresql_the_boundary_statement_is_prepared_once_per_connection(acme):
    version, _ = chain_workflow(acme, 10)
    execute(new_run(version).run_id)  # 11 crossings: past psycopg's prepare threshold of 5
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("INSERT INTO" in text and "held" in text for text in prepared), prepared


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_without_prepared_statements_a_run_still_completes(acme, monkeypatch):
    connection.ensure_connection()
    monkeypatch.setattr(connection.connection, "prepare_threshold", None)  # DATABASE_PREPARED_STATEMENTS=off
    version, _ = chain_workflow(acme, 10)
    run = new_run(version)
    execute(run.run_id)
    assert Run.objects.get(pk=run.pk).status == "completed"


@pytest.fixture
def draining():
    DRAINING.set()  # as the worker's SIGTERM handler does
    yield
    DRAINING.clear()


def test_a_stopping_worker_records_the_step_and_hands_the_run_on_instead_of_starting_the_next(
    acme, draining, django_capture_on_commit_callbacks
):
    run, boundary = claimed_run(acme)
    DRAINING.clear()
    first = boundary.start(node_id="n0", type="llm", position=0, mapped_from="")
    boundary.outcome = finished(first)
    DRAINING.set()
    purge_broker()
    with django_capture_on_commit_callbacks(execute=True):
        assert boundary.start(node_id="n1", type="llm", position=1, mapped_from="") is None
    handed_on = Run.objects.get(pk=run.pk)
    assert (handed_on.status, handed_on.lease, handed_on.steps_completed) == ("pending", "", 1)
    assert list(Step.objects.filter(run=run).values_list("node_id", "status")) == [("n0", "completed")]
    assert dispatched_run_ids() == [run.pk]
    assert claim(run.pk, "lease-b") is not None  # the next executor takes it at once, not after the sweep


def test_a_stopping_worker_beside_running_steps_records_the_step_keeps_the_lease_and_starts_nothing(
    acme, draining, django_capture_on_commit_callbacks
):
    run, boundary = claimed_run(acme)
    DRAINING.clear()
    first = boundary.start(node_id="n0", type="llm", position=0, mapped_from="")
    boundary.outcome = finished(first)
    DRAINING.set()
    purge_broker()
    with django_capture_on_commit_callbacks(execute=True):
        assert boundary.start(node_id="n1", type="llm", position=1, mapped_from="", let_go=False) is None
    held = Run.objects.get(pk=run.pk)
    assert (held.status, held.lease, held.steps_completed) == ("running", "lease-a", 1)
    assert list(Step.objects.filter(run=run).values_list("node_id", "status")) == [("n0", "completed")]
    assert dispatched_run_ids() == []  # handed on only once the steps beside it are recorded
