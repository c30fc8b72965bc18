"""Rule 1 answers every replay submission in the rules table's words; other pages answer in their own."""

import pytest

from .builders import finished_run, support_workflow

CROSS_BOUNDARY = "You can only replay runs that belong to your own workspace and account."
RUN_OF_ANOTHER_WORKSPACE = "This run belongs to another workspace."
NOT_A_MEMBER = "You do not have access to this workspace."


@pytest.fixture
def acme_run(acme):
    return finished_run(support_workflow(acme)[0])


def error_message(response) -> str:
    return response.json()["error"]["message"]


def test_api_replay_through_a_workspace_the_caller_does_not_belong_to_is_403_cross_boundary(outsider_api, acme_run):
    response = outsider_api.post(
        f"/api/v1/acme/runs/{acme_run.run_id}/replays", {"mode": "as_is"}, content_type="application/json"
    )
    assert response.status_code == 403 and error_message(response) == CROSS_BOUNDARY


def test_api_replay_of_another_workspaces_run_through_ones_own_is_403_cross_boundary(outsider_api, acme_run):
    response = outsider_api.post(
        f"/api/v1/globex/runs/{acme_run.run_id}/replays", {"mode": "as_is"}, content_type="application/json"
    )
    assert response.status_code == 403 and error_message(response) == CROSS_BOUNDARY


def test_dialog_replay_through_a_workspace_the_caller_does_not_belong_to_is_403_cross_boundary(
    client, outsider, acme_run
):
    client.force_login(outsider)
    response = client.post(f"/acme/ai/runs/{acme_run.run_id}/replay", {"mode": "as_is"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 403 and CROSS_BOUNDARY in response.content.decode()


def test_command_replay_by_an_outsider_is_refused_with_cross_boundary(outsider, acme_run):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError) as info:
        call_command("replay", acme_run.run_id, "--as", outsider.username)
    assert str(info.value) == f"403: {CROSS_BOUNDARY}"


def test_run_detail_of_another_workspaces_run_says_it_belongs_elsewhere(outsider_api, acme_run):
    response = outsider_api.get(f"/api/v1/globex/runs/{acme_run.run_id}")
    assert response.status_code == 403 and error_message(response) == RUN_OF_ANOTHER_WORKSPACE


def test_trace_of_another_workspaces_run_says_it_belongs_elsewhere(client, outsider, acme_run):
    client.force_login(outsider)
    response = client.get(f"/globex/ai/runs/{acme_run.run_id}")
    assert response.status_code == 403 and RUN_OF_ANOTHER_WORKSPACE in response.content.decode()


def test_api_read_of_a_workspace_the_caller_does_not_belong_to_says_so(outsider_api, acme_run):
    response = outsider_api.get(f"/api/v1/acme/runs/{acme_run.run_id}")
    assert response.status_code == 403 and error_message(response) == NOT_A_MEMBER
