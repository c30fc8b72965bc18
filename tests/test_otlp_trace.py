"""runs.otlp.build_trace: a finished run as one OpenTelemetry GenAI trace, built from what the run recorded."""

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from runs.models import Run, Step
from runs.otlp import (
    SCHEMA_URL,
    SEMCONV_VERSION,
    build_trace,
    root_span_id_of,
    run_record,
    trace_id_of,
)

from .builders import executed_replay, finished_run, support_workflow
from .provider_wire import MESSAGES, message


@pytest.fixture
def version(acme):
    return support_workflow(acme)[0]


@pytest.fixture
def original(version):
    return finished_run(version)


def trace_of(run_id: str, **options):
    run = Run.objects.select_related("workflow", "workspace").get(pk=run_id)
    return build_trace(run_record(run), **options)


def by_name(spans):
    return {span.name.split(" ")[0]: span for span in spans}


def test_a_run_is_a_workflow_root_with_one_span_per_step(original):
    spans = trace_of(original.run_id)
    assert [s.name for s in spans] == ["invoke_workflow Support", "chat claude-opus-4-7", "execute_tool messages.send"]
    root, chat, tool = spans
    assert root.parent is None and chat.parent.span_id == tool.parent.span_id == root.context.span_id
    assert {s.context.trace_id for s in spans} == {trace_id_of(original.run_id)}
    assert (root.kind, chat.kind, tool.kind) == (SpanKind.INTERNAL, SpanKind.CLIENT, SpanKind.INTERNAL)


def test_the_root_names_the_workflow_run_workspace_and_mode(original):
    root = trace_of(original.run_id)[0]
    assert root.attributes["gen_ai.operation.name"] == "invoke_workflow"
    assert root.attributes["gen_ai.workflow.name"] == "Support"
    assert root.attributes["reprise.run_id"] == original.run_id
    assert root.attributes["reprise.workspace"] == "acme"
    assert root.attributes["reprise.mode"] == "original"
    assert root.attributes["reprise.semconv"] == SEMCONV_VERSION


def test_span_times_are_the_recorded_times(original):
    root, chat, _ = trace_of(original.run_id)
    step = Step.objects.get(run=original, node_id="draft")
    assert chat.start_time == int(step.started_at.timestamp() * 1_000_000) * 1000
    assert chat.end_time == int(step.finished_at.timestamp() * 1_000_000) * 1000
    assert root.end_time == int(original.finished_at.timestamp() * 1_000_000) * 1000


def test_a_chat_span_carries_the_genai_request_and_usage(original):
    chat = by_name(trace_of(original.run_id))["chat"]
    step = Step.objects.get(run=original, node_id="draft")
    assert chat.attributes["gen_ai.operation.name"] == "chat"
    assert chat.attributes["gen_ai.provider.name"] == "anthropic"
    assert chat.attributes["gen_ai.request.model"] == "claude-opus-4-7"
    assert chat.attributes["gen_ai.request.max_tokens"] == 1024
    assert chat.attributes["gen_ai.usage.input_tokens"] == step.input_tokens
    assert chat.attributes["gen_ai.usage.output_tokens"] == step.output_tokens
    assert chat.attributes["reprise.cost_usd"] == float(step.cost_usd)
    assert chat.attributes["reprise.simulated"] is True


def test_a_chat_span_carries_the_providers_finish_reason(acme, anthropic_server):
    anthropic_server.script(MESSAGES, [(200, message())])  # stop_reason "end_turn"
    run = finished_run(support_workflow(acme)[0])
    assert run.steps.get(node_id="draft").finish_reason == "end_turn"
    chat = by_name(trace_of(run.run_id, content=True))["chat"]
    assert list(chat.attributes["gen_ai.response.finish_reasons"]) == ["end_turn"]
    assert '"finish_reason":"end_turn"' in chat.attributes["gen_ai.output.messages"]


def test_an_unknown_finish_reason_is_absent(original):
    chat = by_name(trace_of(original.run_id))["chat"]  # simulated: no provider said why it stopped
    assert "gen_ai.response.finish_reasons" not in chat.attributes


def test_an_unknown_cost_is_absent_never_zero(original):
    Step.objects.filter(run=original, node_id="draft").update(cost_usd=None)
    root, chat, _ = trace_of(original.run_id)
    assert "reprise.cost_usd" not in chat.attributes and "reprise.cost_usd" not in root.attributes


def test_a_tool_span_names_the_tool_and_says_the_call_was_live(original):
    tool = by_name(trace_of(original.run_id))["execute_tool"]
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.attributes["gen_ai.tool.name"] == "messages.send"
    assert tool.attributes["gen_ai.tool.call.id"] == f"{original.run_id}/notify"
    assert tool.attributes["reprise.tool.disposition"] == "live"


def test_a_replay_says_its_mutating_call_was_dry_run(operator, original):
    replay = executed_replay(user=operator, run=original, request={"mode": "as_is"})
    tool = by_name(trace_of(replay.run_id))["execute_tool"]
    assert tool.attributes["reprise.tool.disposition"] == "dry_run"


def test_a_replay_root_links_to_its_original_root(operator, original):
    replay = executed_replay(user=operator, run=original, request={"mode": "as_is"})
    root = trace_of(replay.run_id)[0]
    (link,) = root.links
    assert (link.context.trace_id, link.context.span_id) == (
        trace_id_of(original.run_id),
        root_span_id_of(original.run_id),
    )
    original_root = trace_of(original.run_id)[0]
    assert link.context.span_id == original_root.context.span_id
    assert root.attributes["reprise.replay_of"] == original.run_id
    assert root.attributes["reprise.replay_depth"] == 1 and root.attributes["reprise.mode"] == "as_is"


def test_a_failed_step_has_an_error_status_and_its_message(original):
    Step.objects.filter(run=original, node_id="notify").update(status="failed", error="refused by the server")
    Run.objects.filter(pk=original.pk).update(status="failed", error="Node notify failed: refused by the server")
    root, _, tool = trace_of(original.run_id)
    assert tool.status.status_code == StatusCode.ERROR and tool.status.description == "refused by the server"
    assert tool.attributes["error.type"] == "_OTHER"
    assert root.status.status_code == StatusCode.ERROR


def test_contents_are_absent_by_default(original):
    for span in trace_of(original.run_id):
        assert not {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.tool.call.arguments"} & set(
            span.attributes
        )


def test_contents_are_the_conventions_message_attributes_when_asked(original):
    spans = by_name(trace_of(original.run_id, content=True))
    chat, tool = spans["chat"], spans["execute_tool"]
    assert '"content":"Reply to Dana"' in chat.attributes["gen_ai.input.messages"]
    assert '"role":"assistant"' in chat.attributes["gen_ai.output.messages"]
    assert "dana@example.com" in tool.attributes["gen_ai.tool.call.arguments"]


def test_the_resource_declares_the_pinned_conventions(original):
    root = trace_of(original.run_id)[0]
    assert root.resource.schema_url == SCHEMA_URL and root.instrumentation_scope.schema_url == SCHEMA_URL
    assert root.resource.attributes["reprise.semconv"] == SEMCONV_VERSION


def test_a_second_build_is_identical(original):
    first, second = trace_of(original.run_id), trace_of(original.run_id)
    assert [s.to_json() for s in first] == [s.to_json() for s in second]
