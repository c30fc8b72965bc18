"""The Replay dialog's Start from across a version change: kept when the version chosen has the node, itself or
through the node mapping; else back at the first node, with the plan saying so."""

import pytest

from mappings.services import save_mapping

from .builders import finished_run, renaming_version, support_workflow

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def v1(acme):
    """v1: draft → notify."""
    return support_workflow(acme)[0]


def section(client, run, **query):
    return client.get(f"/acme/ai/runs/{run.run_id}/replay/mapping", query, **HTMX).content.decode()


def test_a_start_node_the_new_version_also_has_stays_chosen(operator_client, v1):
    source = finished_run(v1)
    renaming_version(v1, tool_id="notify")  # v2: compose → notify
    html = section(operator_client, source, target_version="2", from_node="notify")
    assert '<option value="notify" selected>' in html and 'name="start_dropped"' not in html


def test_a_renamed_start_node_follows_the_node_mapping_of_the_new_version(operator_client, operator, acme, v1):
    source = finished_run(v1)
    v2 = renaming_version(v1)  # v2: compose → send
    pairs = {"draft": "compose", "notify": "send"}
    save_mapping(
        user=operator, workspace=acme, source_version=v1, target_version=v2, visibility="operator", pairs=pairs
    )
    html = section(operator_client, source, target_version="2", from_node="notify")
    assert '<option value="send" selected>' in html


def test_a_start_node_of_a_renamed_version_goes_back_through_the_mapping_the_form_showed(operator_client, v1):
    source = finished_run(v1)
    renaming_version(v1)
    shown = {"map:draft": "compose", "map:notify": "send"}
    html = section(operator_client, source, target_version="1", from_node="send", **shown)
    assert '<option value="notify" selected>' in html


def test_a_start_node_the_new_version_has_no_node_for_is_reset_and_carried_to_the_plan(operator_client, v1):
    source = finished_run(v1)
    renaming_version(v1)  # no saved mapping: notify leads to no node of v2
    html = section(operator_client, source, target_version="2", from_node="notify")
    assert "(the first node: every node runs)" in html and 'name="start_dropped" value="notify"' in html
    assert "selected>compose (the first node" in html


def test_the_plan_says_start_from_was_reset_while_it_starts_at_the_first_node(operator_client, v1):
    source = finished_run(v1)
    renaming_version(v1)
    form = {"mode": "as_is", "target_version": "2", "map:draft": "compose"}
    url = f"/acme/ai/runs/{source.run_id}/replay/plan"
    reset = operator_client.post(url, {**form, "start_dropped": "notify"}).content.decode()
    assert "Start from is back at the first node: <code>notify</code> is not a node of v2" in reset
    chosen = operator_client.post(url, {**form, "start_dropped": "notify", "from_node": "compose"}).content.decode()
    assert 'id="start-reset"' not in chosen


def test_the_reset_note_goes_once_the_mapping_the_form_shows_leads_the_node_into_the_version(operator_client, v1):
    """Typed into the mapping but not saved: the note's "no node mapping leads to one of its nodes" is no longer true."""
    source = finished_run(v1)
    renaming_version(v1)
    form = {"mode": "as_is", "target_version": "2", "map:draft": "compose", "map:notify": "send"}
    url = f"/acme/ai/runs/{source.run_id}/replay/plan"
    html = operator_client.post(url, {**form, "start_dropped": "notify"}).content.decode()
    assert 'id="start-reset"' not in html


def test_the_first_node_stays_the_start_of_a_failed_run_across_a_version_change(operator_client, v1):
    from runs.models import Run, Step

    source = finished_run(v1)
    Run.objects.filter(pk=source.pk).update(status=Run.Status.FAILED)
    Step.objects.filter(run=source, node_id="notify").update(status=Step.Status.FAILED)
    renaming_version(v1, tool_id="notify")
    html = section(operator_client, source, target_version="2", from_node="")
    assert '<option value="notify">' in html and 'name="start_dropped"' not in html


def test_a_failed_run_opened_on_a_node_the_version_lacks_starts_at_its_failed_node_without_a_reset_note(
    operator_client, v1
):
    from runs.models import Run, Step

    source = finished_run(v1)
    Run.objects.filter(pk=source.pk).update(status=Run.Status.FAILED)
    Step.objects.filter(run=source, node_id="notify").update(status=Step.Status.FAILED)
    renaming_version(v1, tool_id="notify")  # v2: compose → notify, no node draft and no saved mapping
    html = operator_client.get(
        f"/acme/ai/runs/{source.run_id}/replay", {"target_version": "2", "from_node": "draft"}, **HTMX
    ).content.decode()
    assert '<option value="notify" selected>' in html
    assert "Start from is back at the first node" not in html
