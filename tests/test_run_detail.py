"""The prepared reading of a run's detail gives what the ORM's select_related and prefetch give, on either database."""

from decimal import Decimal

import pytest
from django.db.models import Prefetch

from runs.models import Run, Step, ToolCall
from runs.prepared import Compiled
from runs.run_detail import read_run, read_steps
from runs.usage import RunUsage, usage_of_run, usage_of_runs

from .builders import finished_run, run_in_status, support_workflow


def _values(instance) -> list:
    return [getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields if f.name != "replay_plan"]


def _orm(run_id: str) -> Run:
    calls = Prefetch("tool_calls", queryset=ToolCall.objects.order_by("id"))
    steps = Prefetch("steps", queryset=Step.objects.order_by("position").prefetch_related(calls))
    return Run.objects.select_related("workflow").prefetch_related(steps).get(pk=run_id)


def test_the_reading_gives_every_field_of_the_run_its_workflow_steps_and_calls_as_the_orm_does(acme):
    run = finished_run(support_workflow(acme)[0])
    step = run.steps.get(node_id="notify")
    ToolCall.objects.create(step=step, tool="records.lookup", mutating=False, arguments={"key": "A1"}, result=[1])
    expected = _orm(run.run_id)

    detail = read_run(run.run_id)
    assert detail is not None
    read_steps(detail)

    assert _values(detail.run) == _values(expected) and _values(detail.run.workflow) == _values(expected.workflow)
    assert [_values(s) for s, _ in detail.steps] == [_values(s) for s in expected.steps.all()]
    assert [[_values(c) for c in calls] for _, calls in detail.steps] == [
        [_values(c) for c in s.tool_calls.all()] for s in expected.steps.all()
    ]
    assert [len(calls) for _, calls in detail.steps] == [0, 2]
    assert not detail.run._state.adding and detail.run._state.db == "default"


def test_the_run_is_read_with_the_usage_that_usage_of_runs_gives(acme):
    run = finished_run(support_workflow(acme)[0])
    detail = read_run(run.run_id)
    assert detail is not None and detail.usage.llm_steps == 1
    assert detail.usage == usage_of_run(run.run_id) == usage_of_runs([run.run_id])[run.run_id]


def test_a_run_without_llm_steps_costs_nothing(acme):
    run = run_in_status(support_workflow(acme)[0], "pending")
    detail = read_run(run.run_id)
    assert detail is not None and detail.usage == usage_of_run(run.run_id) == RunUsage()
    assert detail.usage.cost_usd == Decimal(0)
    read_steps(detail)
    assert detail.steps == []


def test_an_unknown_run_reads_as_none(db):
    assert read_run("run_deadbeef") is None


def test_a_compiled_query_binds_its_value_exactly_once(db):
    both = Compiled(lambda run_id: Step.objects.filter(run_id=run_id, node_id=run_id))
    with pytest.raises(ValueError, match="exactly once"):
        both.statement("run_deadbeef")
