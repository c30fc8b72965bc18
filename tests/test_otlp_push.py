"""The OTLP push: a finished run's trace sent once to OTEL_EXPORTER_OTLP_ENDPOINT by a task queued after commit."""

import pytest
from celery.signals import task_postrun, task_prerun

from runs import otlp, services, tasks
from runs.engine import dispatch
from runs.models import Run
from runs.otlp import root_span_id_of, trace_id_of
from runs.tasks import EXPORT_MAX_RETRIES, export_run_trace

from .builders import executed_replay, finished_run, new_run, support_workflow, tool
from .otlp_wire import OtlpReceiver, attributes_of
from .worker import modules_loaded_at_start_up

CONTENT = {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result"}


@pytest.fixture
def version(acme):
    return support_workflow(acme)[0]


@pytest.fixture
def queued(monkeypatch):
    """The run ids whose export was queued (the broker's send replaced by a list)."""
    sent: list[str] = []
    monkeypatch.setattr(dispatch, "send_export", sent.append)
    return sent


@pytest.fixture
def receiver(settings):
    """The endpoint, and tasks applied in this process inside the test's transaction: the worker's connection
    checks (which close a connection not in autocommit) are off meanwhile."""
    task_prerun.disconnect(tasks.check_database_connection)
    task_postrun.disconnect(tasks.drop_database_connection_after_failure)
    with OtlpReceiver() as server:
        settings.OTLP_TRACES_ENDPOINT = server.endpoint + "/v1/traces"
        yield server
    task_prerun.connect(tasks.check_database_connection)
    task_postrun.connect(tasks.drop_database_connection_after_failure)


def test_without_an_endpoint_nothing_is_queued(settings, version, queued, django_capture_on_commit_callbacks):
    settings.OTLP_TRACES_ENDPOINT = ""
    with django_capture_on_commit_callbacks(execute=True):
        finished_run(version)
    assert queued == []


def test_a_completed_run_queues_its_export_once_committed(
    settings, version, queued, django_capture_on_commit_callbacks
):
    settings.OTLP_TRACES_ENDPOINT = "http://127.0.0.1:9/v1/traces"
    with django_capture_on_commit_callbacks() as callbacks:
        run = finished_run(version)
    assert queued == [] and run.status == "completed"
    for callback in callbacks:
        callback()
    assert queued == [run.run_id]


def test_a_failed_run_queues_its_export(settings, acme, queued, django_capture_on_commit_callbacks):
    settings.OTLP_TRACES_ENDPOINT = "http://127.0.0.1:9/v1/traces"
    version = services.create_workflow(
        workspace=acme, name="Fails", nodes=[tool("fetch", "http.get", {"url": "http://127.0.0.1:9/"})]
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = finished_run(version)
    assert run.status == "failed" and queued == [run.run_id]


def test_a_cancelled_run_queues_its_export(settings, version, queued, django_capture_on_commit_callbacks):
    settings.OTLP_TRACES_ENDPOINT = "http://127.0.0.1:9/v1/traces"
    run = new_run(version, status="paused")
    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_run(run=run)
    assert queued == [run.run_id]


def test_a_broker_outage_does_not_fail_the_run(settings, version, monkeypatch, django_capture_on_commit_callbacks):
    settings.OTLP_TRACES_ENDPOINT = "http://127.0.0.1:9/v1/traces"

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr("celery.current_app.send_task", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        run = finished_run(version)
    assert run.status == "completed"


def test_the_endpoint_receives_the_replay_trace_linked_to_its_original(receiver, operator, version):
    original = finished_run(version)
    replay = executed_replay(user=operator, run=original, request={"mode": "as_is"})
    export_run_trace.apply(args=[replay.run_id])
    (request,) = receiver.requests
    root, chat, tool_span = receiver.spans()
    assert root.name == "invoke_workflow Support" and not root.parent_span_id
    assert chat.parent_span_id == tool_span.parent_span_id == root.span_id
    assert root.trace_id == chat.trace_id == trace_id_of(replay.run_id).to_bytes(16)
    (link,) = root.links
    assert (link.trace_id, link.span_id) == (
        trace_id_of(original.run_id).to_bytes(16),
        root_span_id_of(original.run_id).to_bytes(8),
    )
    assert attributes_of(root)["reprise.replay_of"] == original.run_id
    assert attributes_of(root)["reprise.mode"] == "as_is"
    assert attributes_of(chat)["gen_ai.provider.name"] == "anthropic"
    assert attributes_of(chat)["gen_ai.usage.output_tokens"] > 0
    assert attributes_of(tool_span)["reprise.tool.disposition"] == "dry_run"
    assert request.resource_spans[0].schema_url == otlp.SCHEMA_URL
    assert attributes_of(request.resource_spans[0].resource)["reprise.semconv"] == otlp.SEMCONV_VERSION


def test_contents_are_not_pushed_by_default(receiver, version):
    run = finished_run(version)
    export_run_trace.apply(args=[run.run_id])
    assert all(not CONTENT & set(attributes_of(span)) for span in receiver.spans())


def test_contents_are_pushed_with_otel_export_content(receiver, settings, version):
    settings.OTEL_EXPORT_CONTENT = True
    run = finished_run(version)
    export_run_trace.apply(args=[run.run_id])
    _, chat, tool_span = receiver.spans()
    assert "Reply to Dana" in attributes_of(chat)["gen_ai.input.messages"]
    assert "dana@example.com" in attributes_of(tool_span)["gen_ai.tool.call.arguments"]


def test_the_headers_of_otel_exporter_otlp_headers_are_sent(receiver, monkeypatch, version):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-team=replays")
    export_run_trace.apply(args=[finished_run(version).run_id])
    assert receiver.headers[0]["x-team"] == "replays"


def test_a_second_message_for_the_run_sends_nothing(receiver, version):
    run = finished_run(version)
    export_run_trace.apply(args=[run.run_id])
    export_run_trace.apply(args=[run.run_id])
    assert len(receiver.requests) == 1
    assert Run.objects.get(pk=run.pk).trace_exported_at is not None


def test_a_run_in_flight_is_not_sent(receiver, version):
    run = new_run(version, status="running")
    export_run_trace.apply(args=[run.run_id])
    assert receiver.attempts == 0


def test_spans_go_in_batches_and_a_retry_resumes_at_the_batch_that_failed(receiver, monkeypatch, version):
    monkeypatch.setattr(otlp, "EXPORT_BATCH", 2)
    receiver.failing = {2}  # the second batch is refused once
    run = finished_run(version)
    export_run_trace.apply(args=[run.run_id])
    assert receiver.attempts == 3 and [len(r.resource_spans[0].scope_spans[0].spans) for r in receiver.requests] == [
        2,
        1,
    ]
    assert [span.name.split(" ")[0] for span in receiver.spans()] == ["invoke_workflow", "chat", "execute_tool"]


def test_when_every_attempt_fails_the_run_is_left_unexported(receiver, version):
    receiver.failing = set(range(1, 100))
    run = finished_run(version)
    export_run_trace.apply(args=[run.run_id])
    assert receiver.attempts == EXPORT_MAX_RETRIES + 1 and receiver.requests == []
    assert Run.objects.get(pk=run.pk).trace_exported_at is None


def test_nothing_of_the_opentelemetry_sdk_is_imported_at_start_up():
    """The web process and the worker load no SDK, exporter or protobuf module until a trace is built (the anthropic
    SDK, once a model is called, imports the OpenTelemetry API, a few small modules, on its own)."""
    wanted = ("opentelemetry.sdk", "opentelemetry.exporter", "opentelemetry.proto", "runs.otlp")
    assert modules_loaded_at_start_up(*wanted) == []
