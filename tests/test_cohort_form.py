"""The cohort form (issue 31, item 6): the replay dialog's own fields anchored on the first eligible member, its
banner and mapping check, Start from, the tools choice, the lanes and checks, and the preview that follows them."""

import html
import json
import re

import pytest

from mappings.services import save_mapping, unmapped_message
from replay.cohorts.models import Cohort
from replay.cohorts.services import ANCHORED_ON_ELIGIBLE, ANCHORED_ON_FIRST_REPLAYABLE, ANCHORED_ON_REPLAYABLE
from replay.messages import WILL_FAIL, WILL_FAIL_REMEDY, WILL_FAIL_REMEDY_COHORT
from runs.checks.form import GONE, NOT_A_LIST, key_of
from runs.models import CatalogModel

from .builders import finished_run, renaming_version, run_in_status, support_workflow
from .cohorts import completed_runs

NEW, PREVIEW = "/acme/ai/cohorts/new", "/acme/ai/cohorts/new/preview"


@pytest.fixture
def version(acme):
    return support_workflow(acme)[0]


def ticked(runs) -> str:
    return NEW + "?" + "&".join(f"run={r.pk}" for r in runs)


def fields(version, runs, **change) -> dict:
    """The form as posted with these runs ticked: the change as the dialog's fields, no lanes."""
    return {
        "name": "Form",
        "workflow_id": version.workflow.workflow_id,
        "run_ids": [r.pk for r in runs],
        "anchor": runs[0].pk,
        "mode": "as_is",
        "tools": "live",
        "baseline_percent": "0",
        "canary": "0",
        **change,
    }


def test_the_form_shows_the_dialogs_change_fields_for_the_first_member(operator_client, version):
    runs = completed_runs(version, 2)
    page = operator_client.get(ticked(runs)).content.decode()
    for field in (
        '<input type="radio" name="mode" value="prompt"',
        'id="prompt_artifact_id" name="prompt_artifact_id"',
        'id="model_pick" class="js-model-pick"',
        'id="target_version" name="target_version"',
        'id="from_node" name="from_node"',
        '<input type="radio" name="tools" value="recorded"',
    ):
        assert field in page
    assert ANCHORED_ON_ELIGIBLE.format(run_id=runs[0].pk) in page


def test_the_fields_are_anchored_on_the_first_member_a_replay_accepts(operator_client, version):
    running = run_in_status(version, "running")
    done = completed_runs(version, 1)[0]
    page = operator_client.get(ticked([running, done])).content.decode()
    assert ANCHORED_ON_ELIGIBLE.format(run_id=done.pk) in page
    assert "<code>in_flight</code>: 1" in page  # the first is counted among the skipped


def test_a_change_refused_for_every_member_anchors_on_the_first_replayable_and_shows_the_refusal(
    operator_client, version
):
    runs = completed_runs(version, 2)
    answer = operator_client.post(PREVIEW, fields(version, runs, mode="model", model_id="x", model_ref="nobody:x"))
    page = answer.content.decode()
    assert ANCHORED_ON_REPLAYABLE.format(run_id=runs[0].pk) in page
    assert 'id="cohort-refusal"' in page and 'id="preview-members"' not in page


def test_the_target_version_defaults_to_each_members_own(operator_client, version):
    runs = completed_runs(version, 1)
    renaming_version(version)
    page = operator_client.get(ticked(runs)).content.decode()
    assert '<option value="" selected>Each member\'s own version</option>' in page
    assert '<option value="2">v2</option>' in page


def test_a_version_with_renamed_nodes_shows_the_dialogs_mapping_check(operator_client, version):
    runs = [finished_run(version) for _ in range(2)]  # renamed nodes are those with a recorded step
    renaming_version(version)
    page = operator_client.get(ticked(runs) + "&target_version=2").content.decode()
    # The mapping section, the preview's refusal and the preview's data-blocked: Create's reason does not repeat it.
    assert page.count(unmapped_message(2)) == 3
    assert 'id="open-mapping"' in page and f"/acme/ai/runs/{runs[0].pk}/node-mapping?target_version=2" in page


def test_a_saved_mapping_covering_the_version_is_applied_and_previewed(operator_client, operator, acme, version):
    runs = [finished_run(version) for _ in range(2)]
    v2 = renaming_version(version)
    save_mapping(
        user=operator,
        workspace=acme,
        source_version=version,
        target_version=v2,
        visibility="operator",
        pairs={"draft": "compose", "notify": "send"},
    )
    page = operator_client.get(ticked(runs) + "&target_version=2").content.decode()
    assert "Applied saved mapping" in page and '<input type="hidden" name="map:draft" value="compose">' in page
    assert '<strong id="preview-members">2 members</strong>' in page


def test_start_from_is_the_change_of_every_member(operator_client, version):
    runs = completed_runs(version, 2)
    operator_client.post(NEW, fields(version, runs, from_node="notify"))
    assert Cohort.objects.get().change["from_nodes"] == ["notify"]


def test_a_model_change_from_the_catalog_is_the_cohorts_change(operator_client, version):
    runs = completed_runs(version, 2)
    model = CatalogModel.objects.get(model_ref="anthropic:claude-sonnet-4-5")
    change = {"mode": "model", "model_id": model.model_id, "model_ref": model.model_ref}
    created = operator_client.post(NEW, fields(version, runs, **change))
    cohort = Cohort.objects.get()
    assert created.status_code == 302
    assert cohort.change["model_ref"] == model.model_ref and cohort.change["mode"] == "model"


def test_the_model_select_offers_the_models_the_dialog_offers(operator_client, acme, version):
    runs = completed_runs(version, 1)
    acme.allowed_providers = ["openai"]
    acme.save()
    page = operator_client.get(ticked(runs)).content.decode()
    assert 'value="openai:gpt-5"' in page and 'value="anthropic:claude-sonnet-4-5"' not in page


def test_the_preview_carries_the_banner_and_the_anchor_note_out_of_band(operator_client, version):
    runs = completed_runs(version, 2)
    page = operator_client.post(PREVIEW, fields(version, runs, tools="recorded")).content.decode()
    assert '<div id="mutation-banner" hx-swap-oob="true">' in page
    assert "Tool calls are answered from each member's own recording" in page
    assert '<p class="muted" id="anchor-note" hx-swap-oob="true">' in page


def _order_total_change(acme):
    """Two finished runs of the support workflow, and a prompt change whose revision reads a field they lack."""
    from .factories import PromptRevisionFactory

    version, revision = support_workflow(acme)
    runs = completed_runs(version, 2)
    other = PromptRevisionFactory(artifact=revision.artifact, content="Refund {{ trigger.order_total }} to the client")
    return (
        version,
        runs,
        {"mode": "prompt", "prompt_artifact_id": revision.artifact.artifact_id, "content_hash": other.content_hash},
    )


def test_create_waits_when_the_first_members_plan_will_fail_naming_its_nodes_as_the_dialog_does(operator_client, acme):
    """The same finding in the same words; the remedy is the cohort's own (its members' payloads are not edited)."""
    version, runs, change = _order_total_change(acme)
    nodes = "draft will fail: missing trigger.order_total"
    dialog = operator_client.post(f"/acme/ai/runs/{runs[0].pk}/replay/plan", change).content.decode()
    assert f'data-blocked="{WILL_FAIL.format(nodes=nodes, remedy=WILL_FAIL_REMEDY)}"' in dialog
    why = WILL_FAIL.format(nodes=nodes, remedy=WILL_FAIL_REMEDY_COHORT)
    page = operator_client.post(PREVIEW, fields(version, runs, **change)).content.decode()
    assert f'<p id="submit-why" class="submit-why field-error" role="status" hx-swap-oob="true">{why}</p>' in page
    assert f'data-blocked="{why}"' in page


def test_the_form_opens_with_create_disabled_beside_the_reason_when_the_first_plan_will_fail(operator_client, acme):
    version, runs, change = _order_total_change(acme)
    page = operator_client.get(ticked(runs) + "&" + "&".join(f"{k}={v}" for k, v in change.items())).content.decode()
    assert 'id="create-cohort" class="primary" aria-describedby="submit-why cohort-refusal" disabled>' in page
    assert '<p id="submit-why" class="submit-why field-error" role="status">This replay would fail: draft will' in page


def test_create_is_enabled_with_no_reason_when_the_first_plan_succeeds(operator_client, version):
    page = operator_client.get(ticked(completed_runs(version, 2))).content.decode()
    assert 'id="create-cohort" class="primary" aria-describedby="submit-why cohort-refusal">' in page
    assert '<p id="submit-why" class="submit-why field-error" role="status"></p>' in page


def test_the_banner_says_mutating_calls_dry_run_and_never_that_they_are_invoked(operator_client, version):
    runs = completed_runs(version, 2)
    page = operator_client.post(PREVIEW, fields(version, runs)).content.decode()
    assert (
        "Mutating tool calls will dry-run." in page
        and "A cohort never confirms a mutating call a policy would send" in page
    )
    assert "invoke" not in page.lower()


def test_a_change_whose_members_would_invoke_a_mutating_call_is_refused_never_confirmed(operator_client, acme):
    acme.replay_allow_mutations = True
    acme.save()
    version = support_workflow(acme, allow_send=True)[0]
    runs = completed_runs(version, 2)
    page = operator_client.post(PREVIEW, fields(version, runs)).content.decode()
    assert "a cohort never confirms them: the members it would invoke for are skipped" in page
    assert "WILL invoke" not in page and 'name="confirm_invoke"' not in page
    assert operator_client.post(NEW, fields(version, runs)).status_code == 409
    assert Cohort.objects.count() == 0


def test_a_change_that_moves_the_anchor_re_renders_the_whole_form(operator_client, version):
    runs = completed_runs(version, 2)
    answer = operator_client.post(PREVIEW, fields(version, runs, anchor=runs[1].pk), HTTP_HX_REQUEST="true")
    assert answer["HX-Retarget"] == "#cohort-form" and answer["HX-Reswap"] == "outerHTML"
    assert '<form id="cohort-form"' in answer.content.decode()


def test_an_unmoved_anchor_answers_the_preview_alone(operator_client, version):
    runs = completed_runs(version, 2)
    answer = operator_client.post(PREVIEW, fields(version, runs), HTTP_HX_REQUEST="true")
    assert "HX-Retarget" not in answer and '<form id="cohort-form"' not in answer.content.decode()


def test_refused_checks_do_not_say_that_no_member_accepts_the_change(operator_client, version):
    runs = completed_runs(version, 2)
    page = operator_client.post(NEW, fields(version, runs, checks='[{"kind": "nope"}]')).content.decode()
    assert ANCHORED_ON_FIRST_REPLAYABLE.format(run_id=runs[0].pk) in page
    assert "no member accepts this change" not in page


def test_the_baseline_label_bounds_the_lanes_members_not_its_percent(operator_client, version):
    page = operator_client.get(ticked(completed_runs(version, 2))).content.decode()
    assert "at least 5 members, at most 50; 0 for none" in page


def test_checks_given_as_json_are_the_cohorts_checks(operator_client, version):
    runs = completed_runs(version, 2)
    check = {"kind": "contains", "node": "draft", "value": "Thanks"}
    operator_client.post(NEW, fields(version, runs, checks=json.dumps([check])))
    assert [{k: c[k] for k in check} for c in Cohort.objects.get().checks] == [check]


def test_checks_that_are_not_a_list_of_checks_are_400_naming_the_field(operator_client, version):
    runs = completed_runs(version, 2)
    answer = operator_client.post(NEW, fields(version, runs, checks="[{not json"))
    assert answer.status_code == 400 and "checks" in answer.content.decode()
    assert Cohort.objects.count() == 0


def test_the_preview_answers_405_to_get(operator_client):
    assert operator_client.get(PREVIEW).status_code == 405


def test_a_viewer_may_not_open_the_form(client, viewer, version):
    client.force_login(viewer)
    assert client.get(NEW).status_code == 403


def test_the_form_reads_a_bounded_number_of_queries(operator_client, version, django_assert_max_num_queries):
    runs = completed_runs(version, 30)
    with django_assert_max_num_queries(18):  # as many for 2 members as for 30
        operator_client.get(ticked(runs))


def test_the_preview_reads_a_bounded_number_of_queries(operator_client, version, django_assert_max_num_queries):
    runs = completed_runs(version, 30)
    with django_assert_max_num_queries(11):  # as many for 2 members as for 30
        operator_client.post(PREVIEW, fields(version, runs), HTTP_HX_REQUEST="true")


def test_the_runs_list_offers_a_box_that_ticks_all_runs_on_the_page(operator_client, version):
    completed_runs(version, 2)
    page = operator_client.get("/acme/ai/runs").content.decode()
    assert '<input type="checkbox" id="tick-page" aria-label="Tick all runs on this page' in page
    assert 'data-tick-store="reprise:ticked:acme"' in page and 'id="clear-ticks"' in page


CHECKS = "/acme/ai/cohorts/new/checks"


def box(answer) -> list:
    """The checks the answer's JSON box holds."""
    found = re.search(
        r'<textarea id="cohort-checks" .*? placeholder=\'[^\']*\'>(.*?)</textarea>', answer.content.decode(), re.S
    )
    assert found is not None
    return json.loads(html.unescape(found.group(1))) if found.group(1).strip() else []


def test_a_check_described_in_the_small_form_is_added_to_the_box_and_the_preview_follows(operator_client, version):
    runs = completed_runs(version, 2)
    described = {"check_node": "draft", "check_kind": "contains", "check_value": "Thanks", "check_ignore_case": "1"}
    answer = operator_client.post(CHECKS, fields(version, runs, checks="", **described), HTTP_HX_REQUEST="true")
    assert answer.status_code == 200 and answer["HX-Trigger"] == "cohortChanged"
    assert box(answer) == [{"kind": "contains", "node": "draft", "value": "Thanks", "case_sensitive": False}]
    assert (
        "contains {&quot;value&quot;: &quot;Thanks&quot;, &quot;case_sensitive&quot;: false}" in answer.content.decode()
    )
    assert Cohort.objects.count() == 0


def test_the_box_a_check_was_added_to_creates_the_cohort_with_it(operator_client, version):
    runs = completed_runs(version, 2)
    described = {"check_node": "draft", "check_kind": "max_length", "check_value": "500"}
    added = box(operator_client.post(CHECKS, fields(version, runs, **described), HTTP_HX_REQUEST="true"))
    operator_client.post(NEW, fields(version, runs, checks=json.dumps(added)))
    assert [{k: c[k] for k in ("kind", "node", "value")} for c in Cohort.objects.get().checks] == [
        {"kind": "max_length", "node": "draft", "value": 500}
    ]


def test_a_refused_check_is_named_beside_its_field_and_leaves_the_box_as_it_was(operator_client, version):
    runs = completed_runs(version, 2)
    kept = [{"kind": "json_valid", "node": "draft"}]
    described = {"check_node": "draft", "check_kind": "regex", "check_value": "(unclosed"}
    answer = operator_client.post(
        CHECKS, fields(version, runs, checks=json.dumps(kept), **described), HTTP_HX_REQUEST="true"
    )
    page = answer.content.decode()
    assert answer.status_code == 400 and "HX-Trigger" not in answer
    assert 'id="cohort-check-error"' in page and "checks[1]" not in page
    assert re.search(r'<textarea name="check_value" rows="1" aria-invalid="true">\(unclosed</textarea>', page)
    assert box(answer) == kept


def test_remove_takes_that_check_out_of_the_box(operator_client, version):
    runs = completed_runs(version, 2)
    declared = [{"kind": "json_valid", "node": "draft"}, {"kind": "max_length", "node": "draft", "value": 9}]
    change = {"checks": json.dumps(declared), "remove": key_of(declared[0])}
    answer = operator_client.post(CHECKS, fields(version, runs, **change), HTTP_HX_REQUEST="true")
    assert answer.status_code == 200 and box(answer) == declared[1:]


def test_remove_of_a_check_the_box_no_longer_holds_is_refused_and_changes_nothing(operator_client, version):
    """The box was edited by hand after the list was shown: the Remove it showed names a check no longer there."""
    runs = completed_runs(version, 2)
    edited = [{"kind": "max_length", "node": "draft", "value": 9}]
    change = {"checks": json.dumps(edited), "remove": key_of({"kind": "json_valid", "node": "draft"})}
    answer = operator_client.post(CHECKS, fields(version, runs, **change), HTTP_HX_REQUEST="true")
    assert answer.status_code == 400 and GONE in html.unescape(answer.content.decode()) and box(answer) == edited


def test_a_box_that_is_not_a_list_of_checks_is_named_and_nothing_is_added(operator_client, version):
    runs = completed_runs(version, 2)
    described = {"check_kind": "json_valid"}
    answer = operator_client.post(
        CHECKS, fields(version, runs, checks="[{not json", **described), HTTP_HX_REQUEST="true"
    )
    page = answer.content.decode()
    assert answer.status_code == 400 and NOT_A_LIST in page
    assert "[{not json" in html.unescape(page) and 'class="cohort-checks-json" open' in page


def test_a_refused_check_already_in_the_box_is_named_on_the_box_not_on_the_check_being_added(operator_client, version):
    runs = completed_runs(version, 2)
    boxed = [{"kind": "regex", "node": "draft", "pattern": "("}]
    change = {"checks": json.dumps(boxed), "check_node": "draft", "check_kind": "json_valid"}
    answer = operator_client.post(CHECKS, fields(version, runs, **change), HTTP_HX_REQUEST="true")
    page = answer.content.decode()
    assert answer.status_code == 400 and "checks[0].pattern" in page and 'class="cohort-checks-json" open' in page
    assert 'aria-invalid="true"' not in page and box(answer) == boxed


def test_a_box_edited_by_hand_keeps_the_check_being_described(operator_client, version):
    runs = completed_runs(version, 2)
    change = {"checks": "", "read": "1", "check_node": "classify", "check_kind": "regex", "check_value": "^Dear"}
    page = operator_client.post(CHECKS, fields(version, runs, **change), HTTP_HX_REQUEST="true").content.decode()
    assert (
        'value="classify"' in page and '<option value="regex" data-value-hint' in page and ">^Dear</textarea>" in page
    )


def test_the_checks_answer_405_to_get(operator_client):
    assert operator_client.get(CHECKS).status_code == 405


def test_an_outsider_may_not_change_another_workspaces_checks(client, outsider, version):
    client.force_login(outsider)
    assert client.post(CHECKS, {"check_kind": "json_valid"}).status_code == 403


def test_a_viewer_may_not_change_the_checks(client, viewer, version):
    client.force_login(viewer)
    assert client.post(CHECKS, {"check_kind": "json_valid"}).status_code == 403


def test_the_small_form_offers_the_first_members_nodes(operator_client, version):
    runs = completed_runs(version, 2)
    page = operator_client.get(ticked(runs)).content.decode()
    nodes = re.search(r'<datalist id="cohort-check-nodes">(.*?)</datalist>', page).group(1)
    assert '<option value="draft">' in nodes and 'list="cohort-check-nodes"' in page


def test_a_box_edited_by_hand_is_listed_as_typed(operator_client, version):
    runs = completed_runs(version, 2)
    typed = '[{"kind": "json_valid", "node": "classify"}]'
    answer = operator_client.post(CHECKS, fields(version, runs, checks=typed, read="1"), HTTP_HX_REQUEST="true")
    page = answer.content.decode()
    assert answer.status_code == 200 and 'class="cohort-checks-json" open' in page
    assert '<span class="mono">classify</span> json_valid' in page and html.escape(typed) in page


def test_the_preview_says_start_from_was_reset_by_the_version_change_as_the_dialogs_plan_does(operator_client, version):
    runs = [finished_run(version) for _ in range(2)]  # renamed nodes are those with a recorded step
    renaming_version(version)  # v2: compose → send; no saved mapping leads notify to one of its nodes
    change = {"target_version": "2", "map:draft": "compose", "start_dropped": "notify"}
    page = operator_client.post(PREVIEW, fields(version, runs, **change), HTTP_HX_REQUEST="true").content.decode()
    assert "Start from is back at the first node: <code>notify</code> is not a node of v2" in page
    assert unmapped_message(1) in page  # beside the refusal that waits for notify's mapping, as in the dialog


def test_the_reset_note_goes_once_the_mapping_leads_the_start_node_into_the_version(operator_client, version):
    runs = [finished_run(version) for _ in range(2)]
    renaming_version(version)
    change = {"target_version": "2", "map:draft": "compose", "map:notify": "send", "start_dropped": "notify"}
    page = operator_client.post(PREVIEW, fields(version, runs, **change), HTTP_HX_REQUEST="true").content.decode()
    assert 'id="start-reset"' not in page and '<strong id="preview-members">2 members</strong>' in page


def test_a_change_that_moves_the_anchor_keeps_the_check_being_described(operator_client, version):
    runs = completed_runs(version, 2)
    change = {"anchor": "run_00000000", "check_node": "draft", "check_value": "Kind regards"}
    page = operator_client.post(PREVIEW, fields(version, runs, **change), HTTP_HX_REQUEST="true").content.decode()
    assert 'id="cohort-form"' in page and ">Kind regards</textarea>" in page


def test_a_first_member_that_will_fail_as_its_original_did_does_not_hold_create(operator_client, version):
    """Its trigger payload lacks what notify reads: its original failed there, and so will its replay."""
    broken = finished_run(version, payload={"name": "No email"})
    assert broken.status == "failed"
    runs = [broken, *completed_runs(version, 1)]
    page = operator_client.post(PREVIEW, fields(version, runs), HTTP_HX_REQUEST="true").content.decode()
    assert 'data-blocked=""' in page and 'id="preview-fails-as-before"' in page
    assert "<code>notify</code> (missing trigger.email)" in page


def test_a_first_member_whose_original_failed_for_another_value_still_holds_create(operator_client, acme):
    """Its original failed at draft for want of trigger.name; the change makes draft read trigger.order_total."""
    from .factories import PromptRevisionFactory

    version, revision = support_workflow(acme)
    broken = finished_run(version, payload={"email": "x@example.com"})
    assert broken.steps.get(node_id="draft").status == "failed"
    other = PromptRevisionFactory(artifact=revision.artifact, content="Refund {{ trigger.order_total }} to the client")
    change = {"mode": "prompt", "prompt_artifact_id": revision.artifact.artifact_id, "content_hash": other.content_hash}
    runs = [broken, *completed_runs(version, 1)]
    page = operator_client.post(PREVIEW, fields(version, runs, **change), HTTP_HX_REQUEST="true").content.decode()
    assert "draft will fail: missing trigger.order_total" in page and 'data-blocked=""' not in page
    assert 'id="preview-fails-as-before"' not in page


def test_the_preview_skips_a_member_whose_kept_model_is_no_longer_allowed(operator_client, operator, acme, version):
    """Each member keeps its own model change: the allowlist is asked about each, not once per version."""
    from .builders import executed_replay

    source = finished_run(version)
    kept_ok = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    kept_gone = executed_replay(
        user=operator, run=source, request={"mode": "model", "model_id": "gpt-5", "model_ref": "openai:gpt-5"}
    )
    acme.allowed_models = ["anthropic:claude-opus-4-7"]
    acme.save()
    page = operator_client.post(PREVIEW, fields(version, [kept_ok, kept_gone]), HTTP_HX_REQUEST="true").content.decode()
    assert '<ul id="preview-ineligible"><li><code>model_not_available</code>: 1</li></ul>' in page


def test_a_box_holding_a_lone_surrogate_is_refused_by_the_one_json_parser_not_a_500(operator_client, version):
    runs = completed_runs(version, 2)
    boxed = '[{"kind": "contains", "node": "draft", "value": "\\ud800"}]'
    for action in ({"read": "1"}, {"check_kind": "json_valid"}):
        answer = operator_client.post(CHECKS, fields(version, runs, checks=boxed, **action), HTTP_HX_REQUEST="true")
        assert answer.status_code in (200, 400) and NOT_A_LIST in html.unescape(answer.content.decode())


def test_a_refused_create_says_its_refusal_once_where_the_preview_says_it(operator_client, version):
    runs = completed_runs(version, 2)
    answer = operator_client.post(NEW, fields(version, runs, mode="model", model_id="x", model_ref="nobody:x"))
    page = answer.content.decode()
    assert answer.status_code == 404
    assert page.count('role="alert"') == 1 and 'id="cohort-refusal"' in page
    assert "Model nobody:x is not in the model catalog." in page


def test_a_refused_change_is_said_once_and_create_is_described_by_it(operator_client, version):
    runs = completed_runs(version, 2)
    page = operator_client.post(
        PREVIEW, fields(version, runs, mode="model", model_id="x", model_ref="nobody:x")
    ).content.decode()
    assert page.count(">Model nobody:x is not in the model catalog.<") == 1 and 'id="cohort-refusal"' in page
    assert '<p id="submit-why" class="submit-why field-error" role="status" hx-swap-oob="true"></p>' in page
