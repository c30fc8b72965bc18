"""Issue 27, item 2: the http tools stream with a byte limit and a wall-clock deadline, each failing the step by name."""

import pytest

from runs import services
from runs.models import Run

from ..builders import finished_run, tool

pytestmark = pytest.mark.django_db


def fetched(acme, url, name="http.get"):
    version = services.create_workflow(workspace=acme, name="Fetch", nodes=[tool("fetch", name, {"url": url})])
    return finished_run(version)


@pytest.mark.parametrize("declared", ["1", "0"])
def test_an_answer_larger_than_the_byte_limit_fails_the_step_naming_it(
    acme, local_server, tools_reach_local_server, settings, declared
):
    settings.HTTP_TOOL_MAX_BYTES = 100_000
    run = fetched(acme, f"{local_server.url}/big?bytes=2000000&length={declared}")
    assert run.status == Run.Status.FAILED and "HTTP_TOOL_MAX_BYTES (100000" in run.error


def test_an_answer_within_the_byte_limit_is_stored(acme, local_server, tools_reach_local_server, settings):
    settings.HTTP_TOOL_MAX_BYTES = 100_000
    run = fetched(acme, f"{local_server.url}/big?bytes=90000&length=0")
    assert run.status == Run.Status.COMPLETED
    assert run.steps.get().tool_calls.get().result == {"status": 200, "body": "x" * 10000}


def test_a_trickling_answer_is_cut_off_at_the_deadline_naming_it(
    acme, local_server, tools_reach_local_server, settings
):
    # Each byte comes well within the per-read timeout; the whole answer would take 20 s.
    settings.HTTP_TOOL_TIMEOUT = 0.5
    run = fetched(acme, f"{local_server.url}/trickle?n=200&every=0.1")
    assert run.status == Run.Status.FAILED and "longer than HTTP_TOOL_TIMEOUT (0.5 s)" in run.error


def test_a_post_whose_answer_is_too_large_fails_naming_the_limit(
    acme, local_server, tools_reach_local_server, settings
):
    settings.HTTP_TOOL_MAX_BYTES = 1000
    run = fetched(acme, f"{local_server.url}/big?bytes=5000", name="http.post")
    assert run.status == Run.Status.FAILED and "HTTP_TOOL_MAX_BYTES" in run.error
