"""Every value a tool returns is stored, encoded, or fails its step naming why; never a run left running."""

import json
import math

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings

from runs import services
from runs.engine import executor as executor_module
from runs.engine.tools import TOOLS, Tool
from runs.jsonvalues import MAX_DEPTH, problem, storable
from runs.models import Run, ToolCall

from .builders import finished_run, tool
from .conftest import rolled_back
from .hostile import deep, hostile_values

pytestmark = pytest.mark.django_db


def fetching(acme, url):
    return services.create_workflow(workspace=acme, name="fetch", nodes=[tool("fetch", "http.get", {"url": url})])


def test_a_non_finite_number_in_a_tool_result_is_stored_as_its_name(acme, local_server, tools_reach_local_server):
    local_server.script("/nan", [(200, '{"a": NaN, "b": Infinity, "c": -Infinity}')])
    run = finished_run(fetching(acme, f"{local_server.url}/nan"))
    assert run.status == Run.Status.COMPLETED
    body = ToolCall.objects.get(step__run=run).result["body"]
    assert body == {"a": "NaN", "b": "Infinity", "c": "-Infinity"}


def test_nul_and_lone_surrogates_in_a_tool_result_are_stored_as_replacement_characters(
    acme, local_server, tools_reach_local_server
):
    local_server.script("/text", [(200, '{"nul": "a\\u0000b", "lone": "\\ud800", "pair": "\\ud83d\\ude00"}')])
    run = finished_run(fetching(acme, f"{local_server.url}/text"))
    assert run.status == Run.Status.COMPLETED
    body = ToolCall.objects.get(step__run=run).result["body"]
    assert body == {"nul": "a\ufffdb", "lone": "\ufffd", "pair": "😀"}


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1500])
def test_a_tool_result_nested_too_deeply_fails_its_step_naming_the_depth(
    acme, local_server, tools_reach_local_server, depth
):
    local_server.script("/deep", [(200, "[" * depth + "]" * depth)])
    run = finished_run(fetching(acme, f"{local_server.url}/deep"))
    assert run.status == Run.Status.FAILED
    assert f"deeper than {MAX_DEPTH} levels" in run.error
    assert run.steps.get().status == "failed"


def test_a_tool_result_too_large_to_store_fails_its_step_naming_its_size(acme, monkeypatch):
    monkeypatch.setattr(executor_module, "MAX_RESULT_BYTES", 1000)
    monkeypatch.setitem(TOOLS, "records.lookup", Tool("records.lookup", False, lambda args, ctx: {"x": "y" * 2000}))
    version = services.create_workflow(workspace=acme, name="w", nodes=[tool("big", "records.lookup", {})])
    run = finished_run(version)
    assert run.status == Run.Status.FAILED and "more than the 1000 a step stores" in run.error


# Autocommit, as the worker runs: a refused statement aborts no enclosing transaction.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_value_the_database_refuses_at_the_boundary_fails_the_step_not_the_worker(acme, monkeypatch):
    monkeypatch.setattr(executor_module, "storable", lambda value, **kwargs: value)  # as before the encoding
    monkeypatch.setitem(TOOLS, "records.lookup", Tool("records.lookup", False, lambda args, ctx: {"a": math.nan}))
    version = services.create_workflow(workspace=acme, name="w", nodes=[tool("nan", "records.lookup", {})])
    run = finished_run(version)  # raises on the old code: the executor re-raised the DatabaseError
    assert run.status == Run.Status.FAILED
    assert run.error == "Node nan failed: the database refused to store its result"
    step = run.steps.get()
    assert step.status == "failed" and step.tool_calls.get().result is None


@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=hostile_values)
def test_any_tool_result_ends_the_run_stored_as_encoded_or_failed_naming_why(value, acme, monkeypatch):
    monkeypatch.setitem(TOOLS, "records.lookup", Tool("records.lookup", False, lambda args, ctx: {"v": value}))
    with rolled_back():
        version = services.create_workflow(workspace=acme, name="w", nodes=[tool("t", "records.lookup", {})])
        run = finished_run(version)
        if run.status == Run.Status.FAILED:
            assert "cannot be stored" in run.error
        else:
            assert run.status == Run.Status.COMPLETED
            stored = ToolCall.objects.get(step__run=run).result
            assert as_floats(stored) == as_floats(storable({"v": value})) and problem(stored) is None


def as_floats(value):
    """PostgreSQL's jsonb reads 5e16 back as an int: compare numbers as floats."""
    return json.loads(json.dumps(value, allow_nan=False), parse_int=float)


def test_storable_keeps_a_storable_value_as_it_is():
    value = {"a": [1, 2.5, "é", None, True], "b": deep(MAX_DEPTH - 1)}
    assert storable(value) is value
