"""A finished run as one OpenTelemetry trace, following the GenAI semantic conventions of SEMCONV_VERSION.

`build_trace` is pure: the run, its steps and their tool calls in, the SDK's spans out. Trace and span ids are
derived from the run id and node ids, so exporting a run twice gives the same trace, and a replay's link to its
original's root span is computed from the original's id alone. Imported only where a trace is built (the
download views, the push task): nothing of OpenTelemetry is loaded at start-up.
"""

import base64
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.utils import timezone
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from .http.errors import Conflict
from .models import Run, Step, ToolCall

log = logging.getLogger(__name__)

# The GenAI conventions moved to their own repository after 1.41.0 (and renamed the workflow span there):
# this export follows 1.41.0, where `invoke_workflow`, `chat` and `execute_tool` spans are all defined.
SEMCONV_VERSION = "1.41.0"
SCHEMA_URL = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"
SAMPLED = TraceFlags(TraceFlags.SAMPLED)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# `error.type` when nothing lower-cardinality is recorded: the conventions' own fallback value.
OTHER_ERROR = "_OTHER"


@dataclass(frozen=True)
class RunRecord:
    """What a trace is built from: the run (workflow and workspace read with it), its steps, their tool calls."""

    run: Run
    steps: Sequence[Step]
    calls: Mapping[int, ToolCall]  # by step id; a tool step has at most one


def run_record(run: Run) -> RunRecord:
    """The run's steps in order and their tool calls, in two queries (the run was read with its workflow)."""
    steps = list(Step.objects.filter(run_id=run.pk).order_by("position"))
    calls = {call.step_id: call for call in ToolCall.objects.filter(step__run_id=run.pk).order_by("id")}
    return RunRecord(run, steps, calls)


def _id(text: str, size: int) -> int:
    """`size` bytes of the text's SHA-256, never 0 (an invalid id in OpenTelemetry)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:size]) or 1


def trace_id_of(run_id: str) -> int:
    return _id(f"reprise:trace:{run_id}", 16)


def root_span_id_of(run_id: str) -> int:
    return _id(f"reprise:run:{run_id}", 8)


def step_span_id_of(run_id: str, node_id: str) -> int:
    return _id(f"reprise:step:{run_id}/{node_id}", 8)


def _nanos(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1) * 1000


def tool_call_disposition(call: ToolCall) -> str:
    """What became of a tool call, in the run's own words: live, dry_run, recorded or reused (as the call records it)."""
    return call.source


@cache
def resource() -> Resource:
    """The process's resource (OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES apply), declaring the conventions."""
    return Resource.create({"service.name": "reprise", "reprise.semconv": SEMCONV_VERSION}, schema_url=SCHEMA_URL)


@cache
def scope() -> InstrumentationScope:
    return InstrumentationScope("reprise", schema_url=SCHEMA_URL)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _run_attributes(run: Run, steps: Sequence[Step]) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "invoke_workflow",
        "gen_ai.workflow.name": run.workflow.name,
        "reprise.semconv": SEMCONV_VERSION,
        "reprise.run_id": run.run_id,
        "reprise.workspace": run.workspace.slug,
        "reprise.workflow_id": run.workflow.workflow_id,
        "reprise.workflow_version": run.version_number,
        "reprise.mode": run.mode or "original",
        "reprise.status": run.status,
        "reprise.simulated": run.simulated,
        "reprise.replay_depth": run.replay_depth,
    }
    if run.replay_of_id:
        attributes["reprise.replay_of"] = run.replay_of_id
    llm = [s for s in steps if s.type == "llm" and (s.status == Step.Status.COMPLETED or s.input_tokens is not None)]
    if all(s.cost_usd is not None for s in llm):  # as runs.usage: one unpriced call makes the run's cost unknown
        attributes["reprise.cost_usd"] = float(sum((s.cost_usd for s in llm if s.cost_usd is not None), 0))
    if run.status == Run.Status.FAILED:
        attributes["error.type"] = OTHER_ERROR
    return attributes


def _step_attributes(step: Step) -> dict[str, Any]:
    attributes: dict[str, Any] = {"reprise.node_id": step.node_id, "reprise.simulated": step.simulated}
    if step.mapped_from:
        attributes["reprise.mapped_from"] = step.mapped_from
    if step.reused_from_run_id:
        attributes["reprise.reused_from"] = f"{step.reused_from_run_id}/{step.reused_from_node_id}"
    if step.status == Step.Status.FAILED:
        attributes["error.type"] = OTHER_ERROR
    return attributes


REQUEST_OPTIONS = {
    "max_tokens": "gen_ai.request.max_tokens",
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "stop": "gen_ai.request.stop_sequences",
}
USAGE = {
    "input_tokens": "gen_ai.usage.input_tokens",
    "output_tokens": "gen_ai.usage.output_tokens",
    "cache_read_tokens": "gen_ai.usage.cache_read.input_tokens",
    "cache_write_tokens": "gen_ai.usage.cache_creation.input_tokens",
    "reasoning_tokens": "gen_ai.usage.reasoning.output_tokens",
}


def _chat_attributes(step: Step, content: bool) -> dict[str, Any]:
    provider, _, model = step.model_ref.partition(":")
    sent = step.input if isinstance(step.input, dict) else {}
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
    }
    for option, name in REQUEST_OPTIONS.items():
        value = sent.get(option)
        if value is not None and value != []:
            attributes[name] = list(value) if option == "stop" else value
    for field, name in USAGE.items():
        if (value := getattr(step, field)) is not None:
            attributes[name] = value
    if step.finish_reason:  # absent when unknown (the simulator, a reused step)
        attributes["gen_ai.response.finish_reasons"] = [step.finish_reason]
    if step.cost_usd is not None:
        attributes["reprise.cost_usd"] = float(step.cost_usd)
    if step.price_version:
        attributes["reprise.price_version"] = step.price_version
    if step.latency_ms is not None:
        attributes["reprise.latency_ms"] = step.latency_ms
    if step.prompt_hash:
        attributes["reprise.prompt_hash"] = step.prompt_hash
    if content:
        if sent.get("system"):
            attributes["gen_ai.system_instructions"] = _json([{"type": "text", "content": sent["system"]}])
        prompt = sent.get("prompt", "")
        attributes["gen_ai.input.messages"] = _json([{"role": "user", "parts": [{"type": "text", "content": prompt}]}])
        if step.status == Step.Status.COMPLETED:
            # The provider's own word, as gen_ai.response.finish_reasons has it (the schema allows any string).
            output = {
                "role": "assistant",
                "parts": [{"type": "text", "content": step.output}],
                "finish_reason": step.finish_reason,
            }
            attributes["gen_ai.output.messages"] = _json([output])
    return attributes


def _tool_attributes(run: Run, step: Step, call: ToolCall | None, content: bool) -> dict[str, Any]:
    sent = step.input if isinstance(step.input, dict) else {}
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": call.tool if call is not None else step.node_id,
        "gen_ai.tool.call.id": f"{run.run_id}/{step.node_id}",
    }
    if call is not None:
        attributes["reprise.tool.disposition"] = tool_call_disposition(call)
        attributes["reprise.tool.mutating"] = call.mutating
    if content:
        attributes["gen_ai.tool.call.arguments"] = _json(call.arguments if call is not None else sent.get("arguments"))
        if call is not None:
            attributes["gen_ai.tool.call.result"] = _json(call.result)
    return attributes


def build_trace(record: RunRecord, *, content: bool = False) -> list[ReadableSpan]:
    """The run's trace: an `invoke_workflow` root, a `chat` span per LLM step, an `execute_tool` span per tool step.

    `content`: prompts, outputs, tool arguments and results as the conventions' message attributes (opt-in).
    """
    run, steps = record.run, record.steps
    trace_id = trace_id_of(run.run_id)
    root = SpanContext(trace_id, root_span_id_of(run.run_id), is_remote=False, trace_flags=SAMPLED)
    run_start = run.started_at or run.created_at
    run_end = run.finished_at or max((s.finished_at or s.started_at for s in steps), default=run_start)
    spans = []
    for step in steps:
        end = step.finished_at or max(step.started_at, run_end)
        attributes = _step_attributes(step)
        if step.type == "llm":
            attributes.update(_chat_attributes(step, content))
            name, kind = f"chat {attributes['gen_ai.request.model']}", SpanKind.CLIENT
        else:
            attributes.update(_tool_attributes(run, step, record.calls.get(step.pk), content))
            name, kind = f"execute_tool {attributes['gen_ai.tool.name']}", SpanKind.INTERNAL
        failed = step.status == Step.Status.FAILED
        spans.append(
            ReadableSpan(
                name,
                SpanContext(trace_id, step_span_id_of(run.run_id, step.node_id), False, SAMPLED),
                parent=root,
                resource=resource(),
                attributes=attributes,
                kind=kind,
                status=Status(StatusCode.ERROR, step.error) if failed else Status(StatusCode.UNSET),
                start_time=_nanos(step.started_at),
                end_time=_nanos(end),
                instrumentation_scope=scope(),
            )
        )
    links = []
    if run.replay_of_id:
        original = SpanContext(
            trace_id_of(run.replay_of_id), root_span_id_of(run.replay_of_id), is_remote=True, trace_flags=SAMPLED
        )
        links.append(Link(original, {"reprise.link": "replay_of"}))
    failed = run.status == Run.Status.FAILED
    spans.insert(
        0,
        ReadableSpan(
            f"invoke_workflow {run.workflow.name}",
            root,
            resource=resource(),
            attributes=_run_attributes(run, steps),
            links=links,
            kind=SpanKind.INTERNAL,
            status=Status(StatusCode.ERROR, run.error) if failed else Status(StatusCode.UNSET),
            start_time=_nanos(run_start),
            end_time=_nanos(run_end),
            instrumentation_scope=scope(),
        ),
    )
    return spans


def encode(spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
    """The spans as the OTLP request the SDK's exporter sends."""
    return encode_spans(spans)


ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def _hex_ids(value: Any) -> None:
    """OTLP/JSON writes trace and span ids as hex, where protobuf's JSON mapping writes bytes as base64."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ID_FIELDS and isinstance(item, str):
                value[key] = base64.b64decode(item).hex()
            else:
                _hex_ids(item)
    elif isinstance(value, list):
        for item in value:
            _hex_ids(item)


def otlp_json(request: ExportTraceServiceRequest) -> dict[str, Any]:
    """The request in OTLP/JSON: lowerCamelCase keys, enums as integers, ids in hex."""
    document = json_format.MessageToDict(request, use_integers_for_enums=True)
    _hex_ids(document)
    return document


NOT_FINISHED = "Run {run_id} is {status}: its trace is exported once it has finished (completed, failed or cancelled)."


def trace_document(run: Run, *, content: bool) -> dict[str, Any]:
    """The finished run's trace as OTLP/JSON, the same request the push sends; a 409 for a run still in flight."""
    if not run.is_finished:
        raise Conflict(NOT_FINISHED.format(run_id=run.run_id, status=run.status))
    return otlp_json(encode(build_trace(run_record(run), content=content)))


# Spans per OTLP request: the SDK's BatchSpanProcessor default, so a 10,000-step run is 20 requests, not one of megabytes.
EXPORT_BATCH = 512


def claim_export(run_id: str) -> bool:
    """Claim a finished run's push (compare-and-swap): False when it was claimed before, or is not finished."""
    return bool(
        Run.objects.filter(pk=run_id, status__in=Run.FINAL_STATUSES, trace_exported_at__isnull=True).update(
            trace_exported_at=timezone.now()
        )
    )


def release_export(run_id: str) -> None:
    """Every attempt failed: the run counts as not exported."""
    Run.objects.filter(pk=run_id).update(trace_exported_at=None)


def push(run_id: str, *, start: int = 0) -> int | None:
    """Send the run's trace to the OTLP endpoint with the SDK's exporter, EXPORT_BATCH spans a request, from batch
    `start` on: None once every batch was accepted, else the first batch to send again. The exporter retries
    429, 502, 503 and 504 answers itself with backoff, within its timeout (OTEL_EXPORTER_OTLP_TIMEOUT)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    run = Run.objects.select_related("workflow", "workspace").filter(pk=run_id).first()
    if run is None:
        return None  # pruned since: nothing to send
    spans = build_trace(run_record(run), content=settings.OTEL_EXPORT_CONTENT)
    batches = [spans[i : i + EXPORT_BATCH] for i in range(0, len(spans), EXPORT_BATCH)]
    exporter = OTLPSpanExporter(endpoint=settings.OTLP_TRACES_ENDPOINT)
    try:
        for index in range(start, len(batches)):
            if exporter.export(batches[index]) is not SpanExportResult.SUCCESS:
                log.warning("OTLP export of %s stopped at batch %d of %d", run_id, index + 1, len(batches))
                return index
    finally:
        exporter.shutdown()
    return None
