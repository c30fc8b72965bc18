"""GET /api/v1/<slug>/runs/<run_id>/otlp and the trace page's "Export trace": a run's trace as OTLP/JSON."""

import re

import pytest

from runs.models import Run
from runs.otlp import build_trace, encode, root_span_id_of, run_record, trace_id_of

from .builders import executed_replay, finished_run, new_run, support_workflow
from .otlp_wire import attributes_of, parse_otlp_json, spans_of


@pytest.fixture
def version(acme):
    return support_workflow(acme)[0]


@pytest.fixture
def original(version):
    return finished_run(version)


def url(run_id: str) -> str:
    return f"/api/v1/acme/runs/{run_id}/otlp"


def test_the_download_round_trips_through_the_proto_json_parser(api, original):
    response = api.get(url(original.run_id))
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    parsed = parse_otlp_json(response.json())
    run = Run.objects.select_related("workflow", "workspace").get(pk=original.pk)
    assert parsed == encode(build_trace(run_record(run)))


def test_ids_are_hex_and_enums_are_integers(api, original):
    body = api.get(url(original.run_id)).json()
    (resource_spans,) = body["resourceSpans"]
    spans = resource_spans["scopeSpans"][0]["spans"]
    assert spans[0]["traceId"] == f"{trace_id_of(original.run_id):032x}"
    assert all(re.fullmatch(r"[0-9a-f]{16}", span["spanId"]) for span in spans)
    assert spans[1]["parentSpanId"] == spans[0]["spanId"]
    assert [span["kind"] for span in spans] == [1, 3, 1]  # INTERNAL, CLIENT, INTERNAL
    assert resource_spans["schemaUrl"] == "https://opentelemetry.io/schemas/1.41.0"


def test_a_replay_download_has_the_span_tree_attributes_and_link(api, operator, original):
    replay = executed_replay(user=operator, run=original, request={"mode": "as_is"})
    root, chat, tool = spans_of(parse_otlp_json(api.get(url(replay.run_id)).json()))
    assert root.name == "invoke_workflow Support" and chat.parent_span_id == tool.parent_span_id == root.span_id
    (link,) = root.links
    assert link.trace_id == trace_id_of(original.run_id).to_bytes(16)
    assert link.span_id == root_span_id_of(original.run_id).to_bytes(8)
    assert attributes_of(root)["reprise.replay_of"] == original.run_id
    assert attributes_of(chat)["gen_ai.request.model"] == "claude-opus-4-7"
    assert attributes_of(tool)["reprise.tool.disposition"] == "dry_run"


def test_contents_are_downloaded_only_when_the_server_allows(api, settings, original):
    chat = spans_of(parse_otlp_json(api.get(url(original.run_id)).json()))[1]
    assert "gen_ai.input.messages" not in attributes_of(chat)
    settings.OTEL_EXPORT_CONTENT = True
    chat = spans_of(parse_otlp_json(api.get(url(original.run_id)).json()))[1]
    assert "Reply to Dana" in attributes_of(chat)["gen_ai.input.messages"]


def test_a_run_in_flight_is_a_409(api, version):
    run = new_run(version, status="running")
    response = api.get(url(run.run_id))
    assert response.status_code == 409 and "has finished" in response.json()["error"]["message"]


def test_an_unknown_run_is_a_404(api, acme):
    assert api.get(url("run_0000dead")).status_code == 404


def test_a_run_of_another_workspace_is_a_403(outsider_api, original):
    assert outsider_api.get(f"/api/v1/globex/runs/{original.run_id}/otlp").status_code == 403


def test_post_is_a_405(api, original):
    assert api.post(url(original.run_id)).status_code == 405


def test_the_trace_page_offers_export_trace_once_finished(operator_client, version, original):
    page = operator_client.get(f"/acme/ai/runs/{original.run_id}").content.decode()
    assert f'href="/acme/ai/runs/{original.run_id}/otlp"' in page and "Export trace" in page
    running = new_run(version, status="running")
    assert "Export trace" not in operator_client.get(f"/acme/ai/runs/{running.run_id}").content.decode()


def test_export_trace_downloads_the_same_document_as_a_file(operator_client, api, original):
    response = operator_client.get(f"/acme/ai/runs/{original.run_id}/otlp")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{original.run_id}.otlp.json"'
    assert response.json() == api.get(url(original.run_id)).json()


def test_export_trace_of_another_workspace_is_a_403(outsider, original):
    from django.test import Client

    client = Client()
    client.force_login(outsider)
    assert client.get(f"/acme/ai/runs/{original.run_id}/otlp").status_code == 403
