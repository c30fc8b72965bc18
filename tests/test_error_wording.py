"""Issue 27, item 12: a run's error never quotes Python or SQL internals."""

import pytest

from runs import services
from runs.engine.tools import TOOLS, Tool
from runs.models import Run

from .builders import finished_run, tool

pytestmark = pytest.mark.django_db

INTERNALS = ("IntegrityError", "UNIQUE", "constraint", "duplicate key", "Traceback", "ZeroDivisionError", "division")


def test_a_second_record_with_the_same_key_fails_naming_the_record_not_the_constraint(acme):
    version = services.create_workflow(
        workspace=acme,
        name="w",
        nodes=[tool("save", "records.create", {"kind": "ticket", "data": {"key": "T-1"}})],
    )
    assert finished_run(version).status == Run.Status.COMPLETED
    again = finished_run(version)
    assert again.status == Run.Status.FAILED
    assert "a 'ticket' record with key 'T-1' already exists" in again.error
    assert not any(word in again.error for word in INTERNALS)


def test_a_tool_that_raises_fails_its_step_without_quoting_the_exception(acme, monkeypatch):
    monkeypatch.setitem(TOOLS, "records.lookup", Tool("records.lookup", False, lambda args, ctx: 1 / 0))
    version = services.create_workflow(workspace=acme, name="w", nodes=[tool("t", "records.lookup", {})])
    run = finished_run(version)
    assert run.status == Run.Status.FAILED and "records.lookup failed unexpectedly" in run.error
    assert not any(word in run.error for word in INTERNALS)
    assert not any(word in run.steps.get().error for word in INTERNALS)
