"""GET /api/v1/<slug>/runs/export.jsonl and the runs list's "Export": a filtered set of runs as JSON Lines."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from runs.api import export
from runs.models import Step

from .builders import chain_workflow, executed_replay, finished_run, new_run, support_workflow

URL = "/api/v1/acme/runs/export.jsonl"
NOW = timezone.now()


@pytest.fixture
def version(acme):
    return support_workflow(acme)[0]


def lines(response) -> list[dict]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/jsonl; charset=utf-8"
    return [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]


def listed(api, filters: dict) -> list[dict]:
    """Every run of GET /runs with these filters, through its cursor."""
    runs, cursor = [], None
    while True:
        body = api.get("/api/v1/acme/runs", {**filters, "limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        runs += body["runs"]
        if not (cursor := body["next"]):
            return runs


@pytest.fixture
def history(acme, operator, version):
    """Originals and replays of two workflows, in every final status and some in flight, at distinct times."""
    original = finished_run(version, created_at=NOW - timedelta(hours=3))
    replay = executed_replay(user=operator, run=original, request={"mode": "as_is"})
    chain, _ = chain_workflow(acme, length=3)
    runs = [original, replay, finished_run(chain, created_at=NOW - timedelta(hours=2))]
    runs += [
        new_run(version, status=s, created_at=NOW - timedelta(minutes=i)) for i, s in enumerate(["failed", "running"])
    ]
    runs.append(new_run(chain, status="cancelled", created_at=NOW - timedelta(minutes=5)))
    return {"version": version, "chain": chain, "runs": runs}


FILTER_SETS = [
    {},
    {"status": "completed"},
    {"lineage": "replays"},
    {"lineage": "originals", "status": "completed"},
    {"from": (NOW - timedelta(hours=2, minutes=30)).isoformat()},
]


@pytest.mark.parametrize("filters", FILTER_SETS)
def test_a_filtered_export_equals_the_api_run_list_run_for_run(api, history, monkeypatch, filters):
    monkeypatch.setattr(export, "EXPORT_PAGE", 2)  # several keyset pages
    exported = lines(api.get(URL, filters))
    assert [{k: v for k, v in line.items() if k != "steps"} for line in exported] == listed(api, filters)


def test_a_workflow_filter_exports_only_its_runs(api, history):
    workflow_id = history["chain"].workflow.workflow_id
    exported = lines(api.get(URL, {"workflow": workflow_id}))
    assert [line["run_id"] for line in exported] == [r["run_id"] for r in listed(api, {"workflow": workflow_id})]
    assert {line["workflow_id"] for line in exported} == {workflow_id}


def test_each_line_is_the_run_as_the_api_answers_it_with_its_steps(api, history):
    for line in lines(api.get(URL)):
        assert line == api.get(f"/api/v1/acme/runs/{line['run_id']}").json()


def test_the_export_reads_a_constant_number_of_queries_a_page(api, history, monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr(export, "EXPORT_PAGE", 2)
    response = api.get(URL)
    with django_assert_max_num_queries(4 * 3):  # 6 runs: 3 pages of runs, steps, tool calls and usage
        assert len(lines(response)) == 6


def test_chat_format_writes_a_line_per_completed_llm_step(api, history):
    chats = lines(api.get(URL, {"format": "chat", "status": "completed"}))
    completed = [r for r in history["runs"] if r.status == "completed"]
    expected = Step.objects.filter(run__in=completed, type="llm", status="completed").count()
    assert len(chats) == expected == 5  # support and its replay: 1 each; the chain: 3
    chat = next(c for c in chats if c["metadata"]["node_id"] == "draft")
    step = Step.objects.get(run_id=chat["metadata"]["run_id"], node_id="draft")
    assert chat["messages"] == [
        {"role": "user", "content": step.input["prompt"]},
        {"role": "assistant", "content": step.output},
    ]
    assert chat["model"] == "claude-opus-4-7"
    assert chat["usage"] == {
        "prompt_tokens": step.input_tokens,
        "completion_tokens": step.output_tokens,
        "total_tokens": step.input_tokens + step.output_tokens,
    }


def test_chat_lines_keep_each_runs_steps_in_order(api, history):
    chain_run = history["runs"][2]
    chats = lines(api.get(URL, {"format": "chat", "run_id_prefix": chain_run.run_id}))
    assert [c["metadata"]["node_id"] for c in chats] == ["n0", "n1", "n2"]


def test_the_chat_export_leaves_out_the_steps_a_rerun_reused(api, operator, acme):
    version, _ = chain_workflow(acme, 3)
    source = finished_run(version)
    rerun = executed_replay(user=operator, run=source, request={"mode": "as_is", "from_nodes": ["n2"]})
    assert set(rerun.steps.exclude(reused_from_run_id="").values_list("node_id", flat=True)) == {"n0", "n1"}
    chats = lines(api.get(URL, {"format": "chat", "run_id_prefix": rerun.run_id}))
    assert [(c["metadata"]["run_id"], c["metadata"]["node_id"]) for c in chats] == [(rerun.run_id, "n2")]


def test_an_empty_selection_is_an_empty_file(api, history):
    assert lines(api.get(URL, {"status": "paused"})) == []


def test_a_malformed_filter_is_a_400_naming_it(api, acme):
    response = api.get(URL, {"status": "done"})
    assert response.status_code == 400 and response.json()["error"]["field"] == "status"


def test_an_unknown_format_is_a_400_naming_it(api, acme):
    response = api.get(URL, {"format": "csv"})
    assert response.status_code == 400 and response.json()["error"]["field"] == "format"


def test_another_workspace_is_a_403(outsider_api, history):
    assert outsider_api.get(URL).status_code == 403


def test_post_is_a_405(api, acme):
    assert api.post(URL).status_code == 405


def test_the_runs_list_offers_export_with_its_filters(operator_client, history):
    workflow_id = history["chain"].workflow.workflow_id
    page = operator_client.get("/acme/ai/runs", {"status": "completed", "workflow": workflow_id}).content.decode()
    assert f'href="/acme/ai/runs/export.jsonl?status=completed&amp;workflow={workflow_id}"' in page
    assert f'href="/acme/ai/runs/export.jsonl?status=completed&amp;workflow={workflow_id}&amp;format=chat"' in page


def test_the_runs_list_fragment_keeps_export_in_step_with_the_filters(operator_client, history):
    response = operator_client.get(
        "/acme/ai/runs", {"lineage": "replays"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="runs-table"
    )
    assert 'href="/acme/ai/runs/export.jsonl?lineage=replays"' in response.content.decode()


def test_the_page_export_is_the_api_export(operator_client, api, history):
    response = operator_client.get("/acme/ai/runs/export.jsonl", {"lineage": "originals"})
    assert response["Content-Disposition"] == 'attachment; filename="acme-runs.jsonl"'
    assert lines(response) == lines(api.get(URL, {"lineage": "originals"}))
