"""Compare tells the truth: reused rows are reused and left out of the deltas, a dry-run row compares the arguments it
would have sent, a node whose tool calls changed is changed, pending rows are pending, and ?with= rows open."""

import pytest

from runs.compare import compare
from runs.models import Run, Step, ToolCall

from .builders import executed_replay, finished_run, new_prompt_replay, side_effect_workflow

pytestmark = pytest.mark.django_db


@pytest.fixture
def source(acme):
    return finished_run(side_effect_workflow(acme))


@pytest.fixture
def rerun(source, operator):
    return executed_replay(user=operator, run=source, request={"mode": "as_is", "from_nodes": ["summary"]})


@pytest.fixture
def new_prompt(source, operator):
    return new_prompt_replay(user=operator, run=source)


def row(comparison, node_id):
    return next(r for r in comparison.rows if r.base and r.base.node_id == node_id)


def test_reused_rows_are_reused_and_left_out_of_the_token_and_cost_totals(source, rerun):
    comparison = compare(source, rerun)
    assert [r.outcome for r in comparison.rows] == ["reused", "reused", "same"]
    summary = Step.objects.get(run=source, node_id="summary")
    assert comparison.total("cost_usd").as_list() == [
        str(summary.cost_usd.normalize()),
        str(Step.objects.get(run=rerun, node_id="summary").cost_usd.normalize()),
    ]
    assert comparison.total("input_tokens").a == summary.input_tokens
    assert comparison.reused == 2 and comparison.changed_outputs == 0


def test_the_compare_page_says_reused_with_no_delta_and_the_totals_say_so(operator_client, source, rerun):
    html = operator_client.get(f"/acme/ai/runs/{rerun.run_id}/compare").content.decode()
    start = html.index('<details class="compare-row')
    draft = html[start : html.index("</details>", start)]
    assert 'badge-reused" title="Copied by a rerun' in draft and "Δ" not in draft and "cost" not in draft
    assert f'from run <span class="mono">{source.run_id}</span>' in draft  # named: a <summary> holds no link
    assert "Tokens and cost leave out 2 reused nodes" in html


def test_a_dry_run_row_whose_arguments_differ_is_changed_though_its_output_is_the_same(source, new_prompt):
    notify = row(compare(source, new_prompt), "notify")
    assert not notify.output_changed and notify.outcome == "changed"
    (call,) = notify.calls
    assert call.arguments_changed and call.result_changed is None


def test_the_row_diff_shows_the_tool_calls_side_by_side_with_the_argument_diff(operator_client, source, new_prompt):
    html = operator_client.get(
        f"/acme/ai/runs/{new_prompt.run_id}/compare/row", {"row": "notify~notify"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    calls = html[html.index('<section class="compare-calls"') :]
    assert "arguments differ" in calls and "Arguments diff" in calls and "<ins>" in calls and "<del>" in calls
    assert "the original&#x27;s result (not sent)" in calls and "Result diff" not in calls


def test_the_compare_api_gives_each_rows_outcome_and_tool_calls(api, source, new_prompt):
    body = api.get(f"/api/v1/acme/runs/{new_prompt.run_id}/compare").json()
    notify = next(r for r in body["rows"] if r["base_node_id"] == "notify")
    assert notify["outcome"] == "changed" and notify["output_changed"] is False
    assert notify["tool_calls"] == [
        {"tool": "messages.send", "label": ["invoked", "dry run"], "arguments_changed": True, "result_changed": None}
    ]
    assert body["totals"]["changed_outputs"] == 3  # draft, notify (its arguments), summary (its prompt)


def test_rows_a_run_in_flight_has_not_finished_are_pending_and_counted_apart(operator_client, source, new_prompt):
    Run.objects.filter(pk=new_prompt.pk).update(status=Run.Status.RUNNING, finished_at=None)
    Step.objects.filter(run=new_prompt, node_id="summary").delete()
    Step.objects.filter(run=new_prompt, node_id="notify").update(status=Step.Status.RUNNING, finished_at=None)
    new_prompt.refresh_from_db()
    comparison = compare(source, new_prompt)
    assert [r.outcome for r in comparison.rows] == ["changed", "pending", "pending"]
    assert comparison.changed_outputs == 1 and comparison.pending == 2
    html = operator_client.get(f"/acme/ai/runs/{new_prompt.run_id}/compare").content.decode()
    assert "1 of 3 nodes" in html and "2 pending" in html


def test_with_compares_rows_whose_diff_urls_name_the_same_pair(operator_client, source, new_prompt):
    html = operator_client.get(f"/acme/ai/runs/{source.run_id}/compare", {"with": new_prompt.run_id}).content.decode()
    url = f"/acme/ai/runs/{source.run_id}/compare/row?with={new_prompt.run_id}&amp;row=draft~draft"
    assert url in html
    response = operator_client.get(url.replace("&amp;", "&"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "<ins>" in response.content.decode()


def test_a_row_whose_replay_made_none_of_the_originals_tool_calls_says_tool_call_changed(
    operator_client, source, new_prompt
):
    ToolCall.objects.filter(step__run=new_prompt, step__node_id="notify").delete()
    html = operator_client.get(f"/acme/ai/runs/{new_prompt.run_id}/compare").content.decode()
    start = html.rindex('<details class="compare-row', 0, html.index('<span class="node mono">notify</span>'))
    notify = html[start : html.index("</details>", start)]
    assert '<span class="calls-changed">tool call changed</span>' in notify


def test_a_step_without_a_provider_latency_compares_its_duration_as_the_trace_computes_it(source, new_prompt):
    from datetime import timedelta

    from django.utils import timezone

    at = timezone.now().replace(microsecond=0)
    spans = {  # fractions a millisecond rounding would get wrong, whole seconds, days, a step still running
        "draft": (at + timedelta(microseconds=999_600), at + timedelta(days=2, seconds=1, microseconds=35_200)),
        "summary": (at + timedelta(seconds=59, microseconds=999_999), at + timedelta(minutes=1, microseconds=1)),
        "notify": (at + timedelta(microseconds=1), None),
    }
    for node_id, (started, finished) in spans.items():
        Step.objects.filter(run=source, node_id=node_id).update(
            latency_ms=None, started_at=started, finished_at=finished
        )
    comparison = compare(source, new_prompt)
    for node_id in spans:
        assert row(comparison, node_id).latency_ms.a == Step.objects.get(run=source, node_id=node_id).duration_ms
    assert [row(comparison, n).latency_ms.a for n in spans] == [172_800_035, 0, None]
