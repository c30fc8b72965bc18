"""Compare a replay with its original: rows aligned by node id then by the node mapping, totals, diffs, the API."""

import pytest

from runs.compare import DIFFERENT_WORKFLOWS, compare, line_diff, word_diff
from runs.http.errors import Rejected

from .builders import executed_replay, finished_run, renaming_version, support_workflow


@pytest.fixture
def source(acme):
    return finished_run(support_workflow(acme)[0])


def test_an_as_is_replay_of_a_deterministic_run_has_every_output_the_same(source, operator):
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    comparison = compare(source, replay)
    assert [(r.base.node_id, r.other.node_id, r.match) for r in comparison.rows] == [
        ("draft", "draft", "same"),
        ("notify", "notify", "same"),
    ]
    assert comparison.changed_outputs == 0


def test_a_model_replay_changes_the_llm_output_and_names_both_models(source, operator):
    replay = executed_replay(
        user=operator, run=source, request={"mode": "model", "model_id": "gpt-5", "model_ref": "openai:gpt-5"}
    )
    draft = compare(source, replay).rows[0]
    assert draft.output_changed and draft.model_ref.as_list() == ["anthropic:claude-opus-4-7", "openai:gpt-5"]


def test_a_cross_version_replay_pairs_each_renamed_node_with_its_target_as_mapped(source, operator):
    renaming_version(source.version)
    replay = executed_replay(
        user=operator,
        run=source,
        request={"mode": "as_is", "target_version": 2, "node_mapping": {"draft": "compose", "notify": "send"}},
    )
    rows = compare(source, replay).rows
    assert [(r.base.node_id, r.other.node_id, r.match) for r in rows] == [
        ("draft", "compose", "mapped"),
        ("notify", "send", "mapped"),
    ]


def test_compared_the_other_way_round_the_mapping_still_pairs_the_nodes(source, operator):
    renaming_version(source.version)
    replay = executed_replay(
        user=operator,
        run=source,
        request={"mode": "as_is", "target_version": 2, "node_mapping": {"draft": "compose", "notify": "send"}},
    )
    assert [r.match for r in compare(replay, source).rows] == ["mapped", "mapped"]


def test_nodes_without_a_counterpart_are_listed_as_only_in_one_run(source, operator, acme):
    from runs import services

    draft = source.version.nodes.get(node_id="draft").config
    v2 = services.add_version(
        workflow=source.workflow,
        nodes=[{"id": "draft", "type": "llm", "prompt": draft["prompt"], "model": draft["model"]}],
    )
    other = finished_run(v2)
    assert [r.match for r in compare(source, other).rows] == ["same", "base_only"]
    assert [r.match for r in compare(other, source).rows] == ["same", "other_only"]


def test_runs_of_different_workflows_cannot_be_compared_409(source, acme):
    other = finished_run(support_workflow(acme)[0])
    with pytest.raises(Rejected) as info:
        compare(source, other)
    assert info.value.status == 409 and info.value.message == DIFFERENT_WORKFLOWS


def test_totals_count_completed_steps_and_changed_outputs(source, operator):
    replay = executed_replay(
        user=operator, run=source, request={"mode": "model", "model_id": "gpt-5", "model_ref": "openai:gpt-5"}
    )
    api = compare(source, replay).as_api()["totals"]
    assert api["steps_completed"] == [2, 2] and api["steps_failed"] == [0, 0] and api["changed_outputs"] >= 1


def test_a_word_diff_marks_inserted_and_deleted_words_and_keeps_repeated_ones():
    diff = word_diff("the cat sat on the mat", "the cat sat on the the mat")
    assert [(p.op, p.text) for p in diff.pieces if p.op != "equal"] == [("insert", "the ")]
    assert "".join(p.text for p in diff.pieces if p.op != "delete") == "the cat sat on the the mat"


def test_a_long_output_is_diffed_in_full_up_to_the_setting_and_says_where_it_stops(settings):
    settings.COMPARE_DIFF_MAX_CHARS = 10
    diff = word_diff("a" * 50, "b" * 50)
    assert diff.stopped_at == 10
    assert word_diff("short", "shorter").stopped_at is None


def test_a_json_diff_is_by_line():
    diff = line_diff('{\n  "a": 1\n}', '{\n  "a": 2\n}')
    assert [(p.op, p.text.strip()) for p in diff.pieces if p.op != "equal"] == [
        ("delete", '"a": 1'),
        ("insert", '"a": 2'),
    ]


def test_the_compare_api_answers_both_summaries_rows_and_totals(api, source, operator):
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    response = api.get(f"/api/v1/acme/runs/{replay.run_id}/compare")
    body = response.json()
    assert response.status_code == 200
    assert body["base"]["run_id"] == source.run_id and body["other"]["run_id"] == replay.run_id
    row = body["rows"][0]
    assert row["base_node_id"] == "draft" and row["match"] == "same" and row["output_changed"] is False
    assert set(row) >= {"status", "model_ref", "prompt_hash", "latency_ms", "input_tokens", "output_tokens", "cost_usd"}
    assert body["totals"]["changed_outputs"] == 0


def test_the_compare_api_with_another_runs_compares_in_that_order(api, source, operator):
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    body = api.get(f"/api/v1/acme/runs/{source.run_id}/compare?with={replay.run_id}").json()
    assert body["base"]["run_id"] == source.run_id and body["other"]["run_id"] == replay.run_id


def test_the_compare_api_of_an_original_without_with_is_400(api, source):
    response = api.get(f"/api/v1/acme/runs/{source.run_id}/compare")
    assert response.status_code == 400 and response.json()["error"]["field"] == "with"


def test_the_compare_api_of_runs_of_different_workflows_is_409(api, source, acme):
    other = finished_run(support_workflow(acme)[0])
    response = api.get(f"/api/v1/acme/runs/{source.run_id}/compare?with={other.run_id}")
    assert response.status_code == 409 and response.json()["error"]["message"] == DIFFERENT_WORKFLOWS


def test_the_compare_api_of_a_foreign_run_answers_as_the_run_detail_does(outsider_api, source):
    response = outsider_api.get(f"/api/v1/globex/runs/{source.run_id}/compare")
    assert (
        response.status_code == 403 and response.json()["error"]["message"] == "This run belongs to another workspace."
    )


def test_the_compare_page_shows_both_runs_and_every_row(operator_client, source, operator):
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    response = operator_client.get(f"/acme/ai/runs/{replay.run_id}/compare")
    html = response.content.decode()
    assert response.status_code == 200
    assert f'href="/acme/ai/runs/{source.run_id}"' in html and f'href="/acme/ai/runs/{replay.run_id}"' in html
    assert html.count('class="compare-row match-') == 2 and "badge-same" in html and "badge-changed" not in html


def test_the_compare_page_of_an_original_offers_its_replays(operator_client, source, operator):
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    html = operator_client.get(f"/acme/ai/runs/{source.run_id}/compare").content.decode()
    assert f"?with={replay.run_id}" in html


def test_the_compare_page_of_an_original_names_the_users_role_in_the_sidebar_as_every_page_does(
    operator_client, source
):
    html = operator_client.get(f"/acme/ai/runs/{source.run_id}/compare").content.decode()
    assert "<span>operator · Operator</span>" in html


def test_the_compare_page_says_when_the_replay_really_invoked_a_mutating_call(operator_client, acme, operator):
    """A dry run is called out at the top of the page; a call whose side effect happened again must be too."""
    source = finished_run(support_workflow(acme, allow_send=True)[0])
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is", "confirm_invoke": True})
    html = operator_client.get(f"/acme/ai/runs/{replay.run_id}/compare").content.decode()
    assert (
        f'1 mutating tool call of <span class="mono">{replay.run_id}</span> was invoked: '
        "its side effect happened again and its result is new."
    ) in html
    assert "dry-ran" not in html


def test_the_compare_page_of_a_dry_run_replay_says_nothing_was_invoked(operator_client, source, operator):
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    html = operator_client.get(f"/acme/ai/runs/{replay.run_id}/compare").content.decode()
    assert "dry-ran" in html and "was invoked" not in html and "were invoked" not in html


def test_the_compare_page_of_runs_of_different_workflows_says_so_with_409(operator_client, source, acme):
    other = finished_run(support_workflow(acme)[0])
    response = operator_client.get(f"/acme/ai/runs/{source.run_id}/compare?with={other.run_id}")
    assert response.status_code == 409 and DIFFERENT_WORKFLOWS in response.content.decode()


def test_changed_only_keeps_the_changed_rows(operator_client, source, operator):
    replay = executed_replay(
        user=operator, run=source, request={"mode": "model", "model_id": "gpt-5", "model_ref": "openai:gpt-5"}
    )
    html = operator_client.get(f"/acme/ai/runs/{replay.run_id}/compare?changed=1").content.decode()
    changed = compare(source, replay).changed_outputs
    assert html.count('class="compare-row match-') == changed and 'name="changed" value="1" checked' in html


def test_a_rows_diff_is_rendered_as_ins_and_del_when_opened(operator_client, source, operator):
    replay = executed_replay(
        user=operator, run=source, request={"mode": "model", "model_id": "gpt-5", "model_ref": "openai:gpt-5"}
    )
    response = operator_client.get(
        f"/acme/ai/runs/{replay.run_id}/compare/row", {"row": "draft~draft"}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert response.status_code == 200 and "<ins>" in html and "<del>" in html


def test_a_diff_escapes_the_outputs(operator_client, acme, operator):
    from runs.models import Step

    source = finished_run(support_workflow(acme)[0])
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    Step.objects.filter(run=replay, node_id="draft").update(output="<script>alert(1)</script>")
    html = operator_client.get(f"/acme/ai/runs/{replay.run_id}/compare/row", {"row": "draft~draft"}).content.decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html


def test_the_compare_page_of_two_long_runs_takes_a_bounded_number_of_queries(
    operator_client, acme, operator, django_assert_max_num_queries
):
    from .builders import chain_workflow

    source = finished_run(chain_workflow(acme, length=30)[0])
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    with django_assert_max_num_queries(10):
        assert operator_client.get(f"/acme/ai/runs/{replay.run_id}/compare").status_code == 200


def test_rows_beyond_a_page_come_with_more_rows(operator_client, source, operator, monkeypatch):
    from runs.web import compare as compare_views

    monkeypatch.setattr(compare_views, "ROWS_PAGE", 1)
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    html = operator_client.get(f"/acme/ai/runs/{replay.run_id}/compare").content.decode()
    assert html.count('class="compare-row match-') == 1 and "More rows" in html
    more = operator_client.get(
        f"/acme/ai/runs/{replay.run_id}/compare", {"offset": 1, "fragment": "rows"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert more.count('class="compare-row match-') == 1 and "notify" in more and "More rows" not in more


def test_the_live_poll_keeps_the_rows_more_rows_loaded(operator_client, source, operator, monkeypatch):
    from runs.web import compare as compare_views

    monkeypatch.setattr(compare_views, "ROWS_PAGE", 1)
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    live = operator_client.get(
        f"/acme/ai/runs/{replay.run_id}/compare",
        {"fragment": "live", "shown": ["1", "2"]},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert live.count('class="compare-row match-') == 2 and "More rows" not in live
    assert '<input type="hidden" name="shown" value="2">' in live


def test_the_live_poll_keeps_a_row_open_that_more_rows_loaded(operator_client, source, operator, monkeypatch):
    from runs.compare import compare
    from runs.web import compare as compare_views

    monkeypatch.setattr(compare_views, "ROWS_PAGE", 1)
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    notify = compare(source, replay).rows[1].dom_id
    live = operator_client.get(
        f"/acme/ai/runs/{replay.run_id}/compare",
        {"fragment": "live", "shown": "2", "open": notify},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert f'id="{notify}" hx-preserve="true"' in live


def test_the_live_poll_with_more_rows_shown_takes_no_more_queries(
    operator_client, source, operator, monkeypatch, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from runs.web import compare as compare_views

    monkeypatch.setattr(compare_views, "ROWS_PAGE", 1)
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    url, hx = f"/acme/ai/runs/{replay.run_id}/compare", {"HTTP_HX_REQUEST": "true"}
    with CaptureQueriesContext(connection) as one_page:
        operator_client.get(url, {"fragment": "live"}, **hx)
    with django_assert_max_num_queries(len(one_page)):
        operator_client.get(url, {"fragment": "live", "shown": "2"}, **hx)


def test_the_override_row_names_both_changes_a_replay_of_a_replay_ran_with(operator_client, acme, operator):
    from runs import services

    from .builders import executed_replay, finished_run, support_workflow

    version, revision = support_workflow(acme)
    newer = services.add_prompt_revision(artifact=revision.artifact, content="Be brief with {{ trigger.name }}")
    prompt = {"mode": "prompt", "prompt_artifact_id": revision.artifact.artifact_id, "content_hash": newer.content_hash}
    prompted = executed_replay(user=operator, run=finished_run(version), request=prompt)
    model = {"mode": "model", "model_id": "gpt-5", "model_ref": "openai:gpt-5"}
    modelled = executed_replay(user=operator, run=prompted, request=model)
    page = operator_client.get(f"/acme/ai/runs/{modelled.run_id}/compare").content.decode()
    row = page[
        page.index('<th scope="row">Override</th>') : page.index("</tr>", page.index('<th scope="row">Override</th>'))
    ]
    assert row.count(revision.artifact.artifact_id) == 2 and '<span class="mono">openai:gpt-5</span>' in row


def test_a_step_that_starts_between_the_two_reads_is_left_for_the_next_read(source, operator):
    """steps_of reads steps, then tool calls: a step (with its call) a running run records between the two reads is
    not in the first, and its call must not fail the page (a running cohort's page and a live compare were 500s)."""
    from django.db import connection

    from runs.compare import steps_of
    from runs.models import Step, ToolCall

    run = source
    notify = Step.objects.get(run=run, node_id="notify")
    call = ToolCall.objects.get(step=notify)
    inserted = []

    def record_a_step_first(execute, sql, params, many, context):
        if not inserted and "FROM" in sql and ToolCall._meta.db_table in sql.split("FROM", 1)[1]:
            inserted.append(True)
            late = Step.objects.get(pk=notify.pk)
            late.pk, late.node_id, late.position = None, "late", notify.position + 1
            late.save()
            call.pk, call.step = None, late
            call.save()
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record_a_step_first):
        found = steps_of([run.pk])
    assert inserted and [s.node_id for s in found[run.pk]] == ["draft", "notify"]
    assert [len(s.calls) for s in found[run.pk]] == [0, 1]
