"""The trace and the run API say what happened: a reused step is reused (from which run, with the original's
figures named so), a dry-run result is the original's, and "invoked" only ever names a call that was sent."""

import pytest

from runs.models import Run, Step

from .builders import PAYLOAD, executed_replay, finished_run, side_effect_workflow, support_workflow

pytestmark = pytest.mark.django_db


@pytest.fixture
def source(acme):
    return finished_run(side_effect_workflow(acme, allow_send=True))


@pytest.fixture
def rerun(source, operator):
    return executed_replay(user=operator, run=source, request={"mode": "as_is", "from_nodes": ["summary"]})


def step_html(client, run, node_id):
    html = client.get(f"/acme/ai/runs/{run.run_id}").content.decode()
    start = html.index(f'<details class="step" id="step-{node_id}">')
    return html[start : html.index("</details>", start)]


def test_a_reused_mutating_call_reads_reused_from_its_run_never_invoked(operator_client, source, rerun):
    notify = step_html(operator_client, rerun, "notify")
    assert "invoked" not in notify
    assert (
        f'reused</span> <span class="nowrap">from run <a class="mono" href="/acme/ai/runs/{source.run_id}">{source.run_id}</a></span>'
        in notify
    )
    assert "copied with its step (not sent again)" in notify


def test_a_reused_call_that_was_a_dry_run_where_it_was_copied_from_never_reads_as_sent(operator_client, acme, operator):
    """Rerun from summary a replay whose notify dry-ran: the copy was never sent anywhere, and its "sent": true is
    the first original's result, so "not sent again" (sent once, in that replay) would not be true."""
    dry = executed_replay(user=operator, run=finished_run(side_effect_workflow(acme)), request={"mode": "as_is"})
    rerun = executed_replay(user=operator, run=dry, request={"mode": "as_is", "from_nodes": ["summary"]})
    notify = step_html(operator_client, rerun, "notify")
    assert "not sent again" not in notify and "invoked" not in notify
    assert "copied with its step, a dry run there: the original&#x27;s result (never sent)" in notify
    row = operator_client.get(
        f"/acme/ai/runs/{rerun.run_id}/compare/row", {"row": "notify~notify"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "not sent again" not in row and "a dry run there" in row


def test_a_reused_llm_step_shows_the_originals_figures_named_as_the_originals(operator_client, source, rerun):
    original = source.steps.get(node_id="draft")
    draft = step_html(operator_client, rerun, "draft")
    assert "original's: " in draft and f"{original.duration_ms} ms" in draft
    assert "0 in · 0 out" not in draft and "$0<" not in draft
    assert 'class="step-duration">reused<' in draft


def test_a_dry_run_result_is_the_originals_not_sent(operator_client, acme, operator):
    source = finished_run(side_effect_workflow(acme))
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    notify = step_html(operator_client, replay, "notify")
    assert "the original&#x27;s result (not sent)" in notify and "invoked" not in notify


def test_a_dry_run_steps_output_says_it_is_the_originals_result_before_showing_it(operator_client, acme, operator):
    source = finished_run(side_effect_workflow(acme))
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    notify = step_html(operator_client, replay, "notify")
    output = notify[notify.index("<h3>Output</h3>") : notify.index("<table")]
    assert '<p class="result-note muted">the original&#x27;s result (not sent)</p><pre>' in output


def test_a_sent_calls_output_carries_no_note(operator_client, acme):
    run = finished_run(side_effect_workflow(acme), payload=PAYLOAD)
    notify = step_html(operator_client, run, "notify")
    assert "<h3>Output</h3><pre>" in notify


def test_a_sent_call_is_invoked(operator_client, acme):
    run = finished_run(side_effect_workflow(acme), payload=PAYLOAD)
    assert "invoked" in step_html(operator_client, run, "notify")


def test_the_api_labels_each_call_as_the_trace_does(api, acme, operator, source, rerun):
    dry = executed_replay(user=operator, run=finished_run(side_effect_workflow(acme)), request={"mode": "as_is"})
    label = {
        run.run_id: {s["node_id"]: s for s in api.get(f"/api/v1/acme/runs/{run.run_id}").json()["steps"]}["notify"][
            "tool_calls"
        ][0]["label"]
        for run in (source, rerun, dry)
    }
    assert label == {source.run_id: "invoked", rerun.run_id: f"reused from {source.run_id}", dry.run_id: "dry run"}
    assert Step.objects.get(run=rerun, node_id="notify").reused_from_run_id == source.run_id


@pytest.fixture
def edited_rerun(source, operator):
    payload = {**PAYLOAD, "name": "Eve"}
    request = {"mode": "as_is", "from_nodes": ["summary"], "tools": "recorded", "trigger_payload": payload}
    return executed_replay(user=operator, run=source, request=request)


def test_the_run_api_names_the_start_nodes_and_the_tools_choice(api, source, edited_rerun):
    body = api.get(f"/api/v1/acme/runs/{edited_rerun.run_id}").json()
    assert (body["from_nodes"], body["payload_edited"], body["tools"]) == (["summary"], True, "recorded")
    listed = api.get("/api/v1/acme/runs").json()["runs"]
    assert {r["run_id"]: (r["from_nodes"], r["tools"]) for r in listed} == {
        source.run_id: (None, "live"),
        edited_rerun.run_id: (["summary"], "recorded"),
    }


def test_the_trace_header_says_the_start_node_the_edited_payload_and_the_tools(operator_client, edited_rerun):
    html = operator_client.get(f"/acme/ai/runs/{edited_rerun.run_id}").content.decode()
    assert (
        '<span id="replay-choices">· Replay as-is · from summary · payload edited · recorded tool calls</span>' in html
    )


def test_the_compare_page_and_the_runs_list_say_them_too(operator_client, edited_rerun):
    compared = operator_client.get(f"/acme/ai/runs/{edited_rerun.run_id}/compare").content.decode()
    assert "<td>Replay as-is · from summary · payload edited · recorded tool calls</td>" in compared
    listed = operator_client.get("/acme/ai/runs").content.decode()
    assert (
        '<span class="replay-choice">· from summary</span> <span class="replay-choice">· payload edited</span>'
        in listed
    )


def test_the_migration_reads_the_choices_of_earlier_replays_from_their_plan(source, edited_rerun):
    import importlib

    from django.apps import apps

    from runs.models import Run

    Run.objects.update(from_nodes=None, tools="live")
    importlib.import_module("runs.migrations.0014_run_replay_choices").backfill(apps, None)
    edited_rerun.refresh_from_db()
    source.refresh_from_db()
    assert (edited_rerun.from_nodes, edited_rerun.tools) == (["summary"], "recorded")
    assert (source.from_nodes, source.tools) == (None, "live")


def test_the_lineage_fragment_lists_the_replays_for_the_submit_event(operator_client, source, rerun):
    response = operator_client.get(f"/acme/ai/runs/{source.run_id}", {"fragment": "lineage"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="lineage" id="lineage"')
    assert 'hx-trigger="replaySubmitted from:body"' in html and rerun.run_id in html and "Steps" not in html


def test_a_replay_of_a_replay_links_to_its_parent_and_its_root(operator_client, operator, source, rerun):
    second = executed_replay(user=operator, run=rerun, request={"mode": "as_is", "confirm_invoke": True})
    html = operator_client.get(f"/acme/ai/runs/{second.run_id}").content.decode()
    assert f'href="/acme/ai/runs/{second.run_id}/compare"' in html and "Compare with parent" in html
    assert f'href="/acme/ai/runs/{source.run_id}/compare?with={second.run_id}"' in html


def test_the_lineage_says_a_replay_started_from_a_later_node(operator_client, source, rerun):
    html = operator_client.get(f"/acme/ai/runs/{source.run_id}").content.decode()
    lineage = html[html.index('id="lineage"') : html.index("</section>", html.index('id="lineage"'))]
    assert "Replay as-is · from summary · live tool calls · " in lineage


def test_the_trace_counts_the_steps_completed_as_monitoring_does(operator_client, acme):
    run = finished_run(support_workflow(acme)[0])
    Step.objects.filter(pk=run.steps.order_by("-position").first().pk).update(status="failed")
    Run.objects.filter(pk=run.pk).update(status="failed", steps_completed=run.steps_total - 1)
    html = operator_client.get(f"/acme/ai/runs/{run.run_id}").content.decode()
    assert f'<dd id="steps-completed">{run.steps_total - 1} / {run.steps_total} completed</dd>' in html


def test_the_lineage_asks_again_while_a_replay_of_the_run_is_running(operator_client, source, rerun):
    def lineage_trigger() -> str:
        html = operator_client.get(f"/acme/ai/runs/{source.run_id}").content.decode()
        section = html[html.index('<section class="lineage"') :]
        return section[section.index('hx-trigger="') : section.index('" hx-swap')]

    assert lineage_trigger() == 'hx-trigger="replaySubmitted from:body'
    Run.objects.filter(pk=rerun.pk).update(status=Run.Status.RUNNING)
    assert lineage_trigger() == 'hx-trigger="replaySubmitted from:body, every 2s'


def test_the_lineage_fragment_reads_the_run_and_its_replays_only(
    operator_client, source, rerun, django_assert_max_num_queries
):
    with django_assert_max_num_queries(5):
        response = operator_client.get(
            f"/acme/ai/runs/{source.run_id}", {"fragment": "lineage"}, headers={"HX-Request": "true"}
        )
    assert rerun.run_id in response.content.decode() and "Trigger payload" not in response.content.decode()
