"""The cohort pages (issue 31): list, new-cohort form with preview, detail live while running, cancel."""

import re

import pytest
from django.test import override_settings
from django.utils import timezone

from replay.cohorts.admission import tick
from replay.cohorts.models import Cohort

from .builders import executed_replay, support_workflow
from .cohorts import body, completed_runs, new_cohort


@pytest.fixture
def version(acme):
    return support_workflow(acme)[0]


def form(version, **extra):
    now = timezone.now()
    return {
        "name": "From the list",
        "workflow_id": version.workflow.workflow_id,
        "status": ["completed"],
        "from": (now - timezone.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
        "to": (now + timezone.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
        "lineage": "originals",
        "mode": "as_is",
        "tools": "live",
        "baseline_percent": "0",
        "canary": "0",
        **extra,
    }


def test_the_runs_list_offers_replay_these_with_its_filters(operator_client, version):
    page = operator_client.get(f"/acme/ai/runs?status=failed&workflow={version.workflow.workflow_id}").content.decode()
    assert 'id="replay-these-form" class="inline-form" method="get" action="/acme/ai/cohorts/new"' in page
    assert '<input type="hidden" name="status" value="failed">' in page
    assert f'<input type="hidden" name="workflow" value="{version.workflow.workflow_id}">' in page


def test_an_operators_runs_list_has_a_box_per_run_that_ticks_it_for_replay_these(operator_client, version):
    runs = completed_runs(version, 2)
    page = operator_client.get("/acme/ai/runs").content.decode()
    for run in runs:
        assert f'<input type="checkbox" name="run" value="{run.pk}" form="replay-these-form"' in page


def test_a_viewers_runs_list_has_no_boxes_and_no_replay_these(client, viewer, version):
    completed_runs(version, 1)
    client.force_login(viewer)
    page = client.get("/acme/ai/runs").content.decode()
    assert 'name="run"' not in page and "replay-these" not in page


def test_the_form_opened_with_ticked_runs_selects_them_and_their_workflow(operator_client, version):
    runs = completed_runs(version, 3)
    page = operator_client.get(f"/acme/ai/cohorts/new?run={runs[0].pk}&run={runs[2].pk}").content.decode()
    assert "2 runs ticked in the runs list" in page
    assert f'<input type="hidden" name="run_ids" value="{runs[0].pk}">' in page
    assert f'<option value="{version.workflow.workflow_id}" selected>' in page
    assert 'name="from"' not in page  # the ticked runs are the selection, not a filter


def test_the_form_creates_a_cohort_of_the_ticked_runs(operator_client, version):
    runs = completed_runs(version, 3)
    ticked = [runs[0].pk, runs[2].pk]
    data = {k: v for k, v in form(version, run_ids=ticked).items() if k not in ("status", "from", "to", "lineage")}
    created = operator_client.post("/acme/ai/cohorts/new", data)
    cohort = Cohort.objects.get()
    assert created.status_code == 302 and cohort.selection == {"run_ids": ticked}
    assert set(cohort.members.values_list("source_run_id", flat=True)) == set(ticked)


def test_the_form_previews_and_creates_a_cohort(operator_client, version):
    completed_runs(version, 3)
    preview = operator_client.post("/acme/ai/cohorts/new/preview", form(version), HTTP_HX_REQUEST="true")
    assert "3 members" in preview.content.decode() and Cohort.objects.count() == 0
    created = operator_client.post("/acme/ai/cohorts/new", form(version))
    cohort = Cohort.objects.get()
    assert created.status_code == 302 and created["Location"] == f"/acme/ai/cohorts/{cohort.pk}"
    assert cohort.members.count() == 3


def test_the_preview_shows_the_plan_as_the_dialog_words_it(operator_client, version):
    completed_runs(version, 2)
    preview = operator_client.post("/acme/ai/cohorts/new/preview", form(version), HTTP_HX_REQUEST="true")
    page = preview.content.decode()
    assert '<code>notify</code> <span class="chip chip-dry-run">dry-run</span>' in page and "dry_run" not in page
    assert re.search(r"Estimated cost (unknown|\$[\d.]+(–\$[\d.]+)?)\.", page)


def test_while_the_canary_runs_the_page_says_the_rest_wait_for_it(operator_client, operator, acme, version):
    runs = completed_runs(version, 4)
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], canary=2))
    tick()
    page = operator_client.get(f"/acme/ai/cohorts/{cohort.pk}").content.decode()
    assert "2 admitted (running)" in page and "the rest wait for the canary (0 of 2 ended)" in page
    assert 'class="seg seg-admitted"' not in page  # the bar shows what ended, as its label says


def test_the_form_opened_without_a_range_proposes_the_last_seven_days_and_previews(operator_client, version):
    completed_runs(version, 2)
    page = operator_client.get(f"/acme/ai/cohorts/new?workflow={version.workflow.workflow_id}").content.decode()
    start, end = re.findall(r'name="(?:from|to)" step="1" required value="([^"]+)"', page)
    values = {**form(version), "from": start, "to": end}
    preview = operator_client.post("/acme/ai/cohorts/new/preview", values, HTTP_HX_REQUEST="true")
    assert "2 members" in preview.content.decode()


def test_the_form_can_select_originals_and_replays(operator_client, operator, version):
    source = completed_runs(version, 1)[0]
    executed_replay(user=operator, run=source, request={"mode": "as_is"})
    both = operator_client.post("/acme/ai/cohorts/new/preview", form(version, lineage="all"), HTTP_HX_REQUEST="true")
    originals = operator_client.post("/acme/ai/cohorts/new/preview", form(version), HTTP_HX_REQUEST="true")
    assert "2 members" in both.content.decode() and "1 member<" in originals.content.decode()


def test_the_form_shows_the_refusal_and_creates_nothing(operator_client, version):
    response = operator_client.post("/acme/ai/cohorts/new", form(version))
    assert response.status_code == 400 and "No run matches this selection." in response.content.decode()
    assert Cohort.objects.count() == 0


def test_the_detail_polls_while_running_and_stops_once_finished(operator_client, operator, acme, version):
    runs = completed_runs(version, 2)
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], canary=0))
    tick()
    page = operator_client.get(f"/acme/ai/cohorts/{cohort.pk}").content.decode()
    assert 'hx-trigger="every 2s"' in page and "Cancel cohort" in page
    operator_client.post(f"/acme/ai/cohorts/{cohort.pk}/cancel", {"cancel_running": "1"})
    page = operator_client.get(f"/acme/ai/cohorts/{cohort.pk}", HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 2s"' not in page and "cancelled" in page


def test_cancel_cohort_asks_first_with_the_confirmation_monitoring_cancel_uses(
    operator_client, operator, acme, version
):
    runs = completed_runs(version, 2)
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], canary=0))
    tick()
    page = operator_client.get(f"/acme/ai/cohorts/{cohort.pk}").content.decode()
    button = page[page.index('<button type="submit" id="cohort-cancel"') :].split(">", 1)[0]
    assert 'class="danger js-confirm"' in button and f'data-confirm-title="Cancel {cohort.name}?"' in button
    assert 'data-confirm-no="Keep running" data-confirm-yes="Cancel cohort"' in button


def test_the_detail_poll_keeps_the_cancel_form_the_operator_is_filling(operator_client, operator, acme, version):
    runs = completed_runs(version, 2)
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], canary=0))
    tick()
    poll = operator_client.get(f"/acme/ai/cohorts/{cohort.pk}", HTTP_HX_REQUEST="true").content.decode()
    assert 'id="cohort-cancel-form" hx-preserve="true"' in poll


def test_the_list_shows_the_workspaces_cohorts(operator_client, operator, acme, version):
    runs = completed_runs(version, 1)
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[runs[0].pk]))
    assert cohort.pk in operator_client.get("/acme/ai/cohorts").content.decode()


def test_the_detail_page_reads_a_bounded_number_of_queries(
    operator_client, operator, acme, version, django_assert_max_num_queries
):
    runs = completed_runs(version, 12)
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], canary=0))
    tick()
    with django_assert_max_num_queries(22):
        operator_client.get(f"/acme/ai/cohorts/{cohort.pk}")


def test_the_detail_pages_downloads_use_the_pages_session(operator_client, operator, acme, version):
    runs = completed_runs(version, 2)
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], baseline_percent=0))
    page = operator_client.get(f"/acme/ai/cohorts/{cohort.pk}").content.decode()
    assert f'href="/acme/ai/cohorts/{cohort.pk}/members.csv"' in page
    csv = operator_client.get(f"/acme/ai/cohorts/{cohort.pk}/members.csv")
    jsonl = operator_client.get(f"/acme/ai/cohorts/{cohort.pk}/members.jsonl")
    assert csv.status_code == 200 and len(b"".join(csv.streaming_content).decode().splitlines()) == 3
    assert jsonl.status_code == 200 and len(b"".join(jsonl.streaming_content).splitlines()) == 2


def test_another_workspaces_cohort_download_answers_as_another_workspaces_run(
    client, outsider, operator, acme, globex, version
):
    runs = completed_runs(version, 1)
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[runs[0].pk]))
    client.force_login(outsider)
    download = client.get(f"/globex/ai/cohorts/{cohort.pk}/members.csv")
    page = client.get(f"/globex/ai/cohorts/{cohort.pk}")
    trace = client.get(f"/globex/ai/runs/{runs[0].pk}")
    assert download.status_code == page.status_code == trace.status_code == 403


def test_the_detail_page_states_the_change_it_judged(operator_client, operator, acme, version):
    runs = completed_runs(version, 2)
    change = {
        "mode": "model",
        "model_id": "claude-sonnet-4-5",
        "model_ref": "anthropic:claude-sonnet-4-5",
        "from_nodes": ["draft"],
        "tools": "recorded",
    }
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], replay=change))
    page = operator_client.get(f"/acme/ai/cohorts/{cohort.pk}").content.decode()
    definition = page[page.index('id="cohort-definition"') : page.index("</dl>")]
    for term, value in (
        ("Selection", "2 runs ticked in the runs list"),
        ("Mode", "Replay with new model"),
        ("Model", "anthropic:claude-sonnet-4-5"),
        ("Workflow version", "each member&#x27;s own"),
        ("Start from", "draft"),
        ("Tool calls", "recorded: answered from each member&#x27;s own recording"),
    ):
        assert f"<dt>{term}</dt><dd>{value}</dd>" in definition
    assert "the nodes before Start from were reused, and are left out on both sides" in page


def test_the_detail_page_states_a_filter_selection(operator_client, operator, acme, version):
    completed_runs(version, 1)
    now = timezone.now()
    window = {"status": ["completed"], "from": (now - timezone.timedelta(hours=1)).isoformat(), "to": now.isoformat()}
    cohort = new_cohort(operator, acme, body(version.workflow, filter=window))
    page = operator_client.get(f"/acme/ai/cohorts/{cohort.pk}").content.decode()
    assert re.search(r"<dt>Selection</dt><dd>completed; originals; created from [-0-9]{10} [:0-9]{8} UTC before ", page)


def test_the_detail_page_names_a_check_on_the_whole_run_so(operator_client, operator, acme, version):
    runs = completed_runs(version, 2)
    checks = [{"kind": "max_latency_ms", "node": None, "value": 5000}, {"kind": "json_valid", "node": "draft"}]
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], checks=checks))
    page = operator_client.get(f"/acme/ai/cohorts/{cohort.pk}").content.decode()
    assert "<dt>Checks</dt><dd>max_latency_ms on the whole run, json_valid on draft</dd>" in page and "None" not in page


def test_when_every_member_is_in_the_canary_none_is_said_to_wait_for_it(operator_client, operator, acme, version):
    runs = completed_runs(version, 2)
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], canary=5))
    with override_settings(REPLAY_QUOTA_RATE="2/m"):  # the cohort's share admits one of the two now
        tick()
        page = operator_client.get(f"/acme/ai/cohorts/{cohort.pk}").content.decode()
    assert "1 admitted" in page and "s to admit the rest" in page and "wait for the canary" not in page


def test_a_cohort_without_a_baseline_lane_says_it_has_no_noise_floor(operator_client, operator, acme, version):
    runs = completed_runs(version, 2)
    cohort = new_cohort(
        operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], baseline_percent=0, canary=0)
    )
    page = operator_client.get(f"/acme/ai/cohorts/{cohort.pk}").content.decode()
    assert "no baseline lane, so no noise floor to set them beside" in page and "baseline (as-is): 0 of 0" not in page


def test_a_verdict_kept_before_it_counted_the_compared_nodes_carries_no_note_saying_it_did(
    operator_client, operator, acme, version
):
    from replay.cohorts.verdict import verdict_of

    runs = completed_runs(version, 2)
    change = {"mode": "as_is", "from_nodes": ["notify"]}
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], replay=change))
    kept = verdict_of(cohort)
    del kept["compared_nodes"]
    Cohort.objects.filter(pk=cohort.pk).update(verdict=kept)
    page = operator_client.get(f"/acme/ai/cohorts/{cohort.pk}").content.decode()
    assert 'id="cohort-definition"' in page and 'id="verdict-reused"' not in page


def test_the_lanes_say_how_many_members_the_baseline_percent_made(operator_client, operator, acme, version):
    """10 % of four asks for at least five, never more than there are: the page says the four, not only the 10 %."""
    runs = completed_runs(version, 4)
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], baseline_percent=10))
    page = operator_client.get(f"/acme/ai/cohorts/{cohort.pk}").content.decode()
    assert "<dt>Lanes</dt><dd>baseline 10 % as-is, 4 members; canary " in page
    none = new_cohort(operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], baseline_percent=0))
    assert (
        "<dt>Lanes</dt><dd>no baseline; canary " in operator_client.get(f"/acme/ai/cohorts/{none.pk}").content.decode()
    )
