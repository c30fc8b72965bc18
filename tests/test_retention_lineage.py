"""A replay whose source was pruned keeps working: its trace, API and compare say the source no longer exists."""

from datetime import timedelta

import pytest
from django.utils import timezone

from runs.compare import NO_ORIGINAL
from runs.models import Run
from runs.retention import prune_runs

from .builders import executed_replay, finished_run, support_workflow


@pytest.fixture
def orphan(acme, operator) -> Run:
    """An executed replay whose source finished 90 days ago and was pruned."""
    source = finished_run(support_workflow(acme)[0])
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    Run.objects.filter(pk=source.pk).update(finished_at=timezone.now() - timedelta(days=90))
    assert prune_runs(older_than=timedelta(days=30)).runs == 1
    replay.refresh_from_db()
    return replay


def test_the_trace_of_a_replay_whose_source_was_pruned_says_the_source_no_longer_exists(operator_client, orphan):
    response = operator_client.get(f"/acme/ai/runs/{orphan.run_id}")
    html = response.content.decode()
    assert response.status_code == 200
    assert f'<p id="lineage-source-gone">{Run.SOURCE_GONE} (depth 1).</p>' in html
    assert 'id="compare-link"' not in html  # no original to compare with


def test_the_api_run_of_a_replay_whose_source_was_pruned_carries_the_lineage_note(api, orphan):
    body = api.get(f"/api/v1/acme/runs/{orphan.run_id}").json()
    assert (body["replay_of"], body["replay_depth"], body["lineage_note"]) == (None, 1, Run.SOURCE_GONE)


def test_the_api_run_of_an_original_has_no_lineage_note(api, acme):
    run = finished_run(support_workflow(acme)[0])
    assert api.get(f"/api/v1/acme/runs/{run.run_id}").json()["lineage_note"] is None


def test_the_compare_page_of_a_replay_whose_source_was_pruned_says_so(operator_client, orphan):
    response = operator_client.get(f"/acme/ai/runs/{orphan.run_id}/compare")
    html = response.content.decode()
    assert response.status_code == 200
    assert f"{Run.SOURCE_GONE}: there is no original to compare this replay with." in html
    assert "This run is an original" not in html


def test_the_compare_api_of_a_replay_whose_source_was_pruned_is_410_with_the_message(api, orphan):
    response = api.get(f"/api/v1/acme/runs/{orphan.run_id}/compare")
    assert response.status_code == 410
    assert response.json()["error"] == {"code": "source_gone", "message": NO_ORIGINAL}


def test_a_replay_whose_source_was_pruned_can_itself_be_replayed(orphan, operator):
    again = executed_replay(user=operator, run=orphan, request={"mode": "as_is"})
    assert (again.status, again.replay_of_id, again.replay_depth) == (Run.Status.COMPLETED, orphan.run_id, 2)
    assert again.steps.count() == 2
    dry = again.steps.get(node_id="notify").tool_calls.get()
    recorded = orphan.steps.get(node_id="notify").tool_calls.get()
    assert dry.dry_run and dry.result == recorded.result  # recorded by the replay it replays, which still exists


def test_the_runs_list_says_a_replays_source_no_longer_exists(operator_client, orphan):
    html = operator_client.get("/acme/ai/runs").content.decode()
    assert f'<span class="muted">{Run.SOURCE_GONE}</span>' in html
